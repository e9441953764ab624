-- The clusters, members and cluster state of a batch of titles (registered as `batch_titles`)
-- replaced by the new ones (`new_clusters`, `new_members`, `new_state`), inside the caller's
-- transaction (models/scoring/recluster.py). Titles left without embedded reviews simply lose
-- their clusters and state.
DELETE FROM clusters
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles);

DELETE FROM cluster_members
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles);

DELETE FROM cluster_state
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles);

INSERT INTO cluster_members BY NAME (SELECT * FROM new_members);

INSERT INTO clusters BY NAME (SELECT * FROM new_clusters);

INSERT INTO cluster_state BY NAME (SELECT * FROM new_state);
