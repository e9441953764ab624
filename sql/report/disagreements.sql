-- The most confident disagreements between sentiment and stars, $per_title per title with a
-- page ($ids).
SELECT title_id, rank_in_title, source, review_id, day, rating, sentiment, p_positive,
       confidence, text_raw
FROM sentiment_rating_disagreements
WHERE rank_in_title <= $per_title AND list_contains($ids, title_id)
ORDER BY title_id, rank_in_title;
