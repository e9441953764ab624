-- Merge the cleaned batch (registered as `batch`, one row per review) into reviews: the latest
-- scraped version of a review wins; first_seen_run stays that of the first clean that saw it.

-- Scores of reviews whose normalized text changed are stale: drop them so they are rescored.
CREATE OR REPLACE TEMP TABLE changed_keys AS
SELECT r.review_key
FROM batch b
JOIN reviews r USING (source, review_id)
WHERE b.scraped_at >= r.scraped_at AND b.text_norm <> r.text_norm;

DELETE FROM scores WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM embeddings WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM cluster_members WHERE review_key IN (SELECT review_key FROM changed_keys);

-- Batch rows at least as new as what reviews holds (an older version arriving late loses).
CREATE OR REPLACE TEMP TABLE incoming AS
SELECT b.* REPLACE (coalesce(r.first_seen_run, b.first_seen_run) AS first_seen_run)
FROM batch b
LEFT JOIN reviews r USING (source, review_id)
WHERE r.review_id IS NULL OR b.scraped_at >= r.scraped_at;

DELETE FROM reviews r USING incoming i
WHERE r.source = i.source AND r.review_id = i.review_id;

INSERT INTO reviews BY NAME (SELECT * FROM incoming);

DROP TABLE incoming;
