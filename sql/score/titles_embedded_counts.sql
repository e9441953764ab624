-- Embedded reviews (current similarity version) per title of `batch_titles`: what the read
-- batches of models/scoring/recluster.py are sized by. Titles without any are left out.
SELECT r.title_id, count(*) AS n
FROM reviews r
JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
WHERE r.title_id IN (SELECT title_id FROM batch_titles)
GROUP BY r.title_id
