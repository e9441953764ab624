-- The clusters and members of a batch of titles (registered as `batch_titles`) replaced by
-- the new ones (`new_clusters`, `new_members`), inside the caller's transaction
-- (models/recluster.py). Titles left without embedded reviews simply lose their clusters.
DELETE FROM clusters
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles);

DELETE FROM cluster_members
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles);

INSERT INTO cluster_members BY NAME (SELECT * FROM new_members);

INSERT INTO clusters BY NAME (SELECT * FROM new_clusters);
