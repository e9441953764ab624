-- The embedded reviews (current similarity version) of a batch of titles (registered as
-- `batch_titles`), grouped by title, in a stable order. One query per batch: one query per
-- title joined the whole embeddings table each time (41 ms a title at 494k reviews).
SELECT r.title_id, r.review_key, r.text_norm, e.vector
FROM reviews r
JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
WHERE r.title_id IN (SELECT title_id FROM batch_titles)
ORDER BY r.title_id, r.review_key
