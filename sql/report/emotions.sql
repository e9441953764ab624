-- The 44 emotion intensities of each title with a page ($ids), strongest first.
SELECT title_id, emotion_idx, emotion, n_scored, mean_intensity, top_share
FROM title_emotions
WHERE list_contains($ids, title_id)
ORDER BY title_id, mean_intensity DESC, emotion_idx;
