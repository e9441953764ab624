-- Similarity clusters of each title with a page ($ids), largest first.
SELECT title_id, cluster_id, size, share, representative_text, keywords
FROM title_clusters
WHERE list_contains($ids, title_id)
ORDER BY title_id, cluster_id;
