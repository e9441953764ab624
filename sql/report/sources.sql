-- Each source's figures, per title with a page ($ids).
SELECT title_id, source, n_reviews, mean_rating, share_positive, title_score, title_score_gap
FROM source_comparison
WHERE list_contains($ids, title_id);
