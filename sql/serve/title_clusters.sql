-- GET /v1/titles/{id}: the title's similarity clusters, largest first.
SELECT cluster_id, size, share, representative_key, representative_text, keywords
FROM title_clusters
WHERE title_id = $title_id
ORDER BY size DESC, cluster_id
