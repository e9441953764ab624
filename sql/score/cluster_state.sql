-- What the last full clustering of each title of a batch (`batch_titles`) saw.
SELECT title_id, full_reviews, full_unclustered, added_since_full, full_at
FROM cluster_state
WHERE similarity_version = $version AND title_id IN (SELECT title_id FROM batch_titles)
