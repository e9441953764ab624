-- Reviews not yet scored by the current versions: missing a scores row for the current
-- (sentiment, emotion) pair, an embedding for the current similarity version, or (when a
-- rating model is current: $rating_version is not NULL) a rating_scores row for it.
-- Shortest first, so each chunk holds texts of similar length (less padding per batch).
SELECT r.review_key, r.title_id, r.text_norm,
       s.review_key IS NULL AS need_scores,
       e.review_key IS NULL AS need_embedding,
       ($rating_version IS NOT NULL AND p.review_key IS NULL) AS need_rating
FROM reviews r
LEFT JOIN scores s
    ON s.review_key = r.review_key
   AND s.sentiment_version = $sentiment_version
   AND s.emotion_version = $emotion_version
LEFT JOIN embeddings e
    ON e.review_key = r.review_key
   AND e.similarity_version = $similarity_version
LEFT JOIN rating_scores p
    ON p.review_key = r.review_key
   AND p.rating_version = $rating_version
WHERE s.review_key IS NULL OR e.review_key IS NULL
   OR ($rating_version IS NOT NULL AND p.review_key IS NULL)
ORDER BY length(r.text_norm), r.review_key
