-- The pending keywords (NULL) of the clusters of the current similarity version set from
-- `new_keywords` (sql/score/cluster_keywords.sql); a cluster none of whose members has a term
-- gets none. Inside the caller's transaction (models/scoring/recluster.py: fill_keywords).
UPDATE clusters
SET keywords = k.keywords
FROM new_keywords k
WHERE clusters.similarity_version = $version
  AND clusters.title_id = k.title_id
  AND clusters.cluster_id = k.cluster_id
  AND clusters.keywords IS NULL;

UPDATE clusters
SET keywords = []
WHERE similarity_version = $version AND keywords IS NULL;
