-- The reference path's read (models/scoring/recluster.py, reference=True): the query the score
-- stage ran before issue 20, kept as it was so that bench/ compares against the old cost.
-- The embedded reviews (current similarity version) of a batch of titles (registered as
-- `batch_titles`), grouped by title, in a stable order, with the cluster each was in when the
-- title was last clustered (NULL: new since, or edited). One query per batch: one query per
-- title joined the whole embeddings table each time (41 ms a title at 494k reviews).
SELECT r.title_id, r.review_key, e.vector, m.cluster_id AS prior_cluster
FROM reviews r
JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
LEFT JOIN cluster_members m
    ON m.review_key = r.review_key AND m.similarity_version = $version
   AND m.title_id = r.title_id
WHERE r.title_id IN (SELECT title_id FROM batch_titles)
ORDER BY r.title_id, r.review_key
