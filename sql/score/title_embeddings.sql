-- One title's embedded reviews (current similarity version), in a stable order.
SELECT r.review_key, r.text_norm, e.vector
FROM reviews r
JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
WHERE r.title_id = $title_id
ORDER BY r.review_key
