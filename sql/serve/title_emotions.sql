-- GET /v1/titles/{id}: all 44 emotions of the title, strongest mean intensity first.
SELECT emotion_idx, emotion, n_scored, mean_intensity, top_share
FROM title_emotions
WHERE title_id = $title_id
ORDER BY mean_intensity DESC, emotion_idx
