-- The embedded reviews (current similarity version) of a batch of titles (registered as
-- `batch_titles`) with the cluster each was in when the title was last clustered (NULL: new
-- since, or edited). One query per read batch. Unordered: the caller sorts by title and key
-- (an ORDER BY here carried every vector through DuckDB's sort; models/scoring/recluster.py).
-- The batch's reviews are found first (a materialized CTE): joined as one query, DuckDB joined
-- all reviews with all embeddings before filtering by title, a cost that grew with the whole
-- table on every batch; this way the embeddings scan is filtered by the batch's keys.
-- $with_prior false skips the memberships (a batch of titles never clustered at this version,
-- as in a first run: their prior clusters are unused), which DuckDB then does not join.
WITH batch_reviews AS MATERIALIZED (
    SELECT r.title_id, r.review_key
    FROM reviews r
    JOIN batch_titles b USING (title_id)
)
SELECT r.title_id, r.review_key, e.vector, m.cluster_id AS prior_cluster
FROM batch_reviews r
JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
LEFT JOIN cluster_members m
    ON m.review_key = r.review_key AND m.similarity_version = $version
   AND m.title_id = r.title_id AND $with_prior
