-- Before merging `batch`: scores of reviews whose normalized text changed are stale.
CREATE OR REPLACE TEMP TABLE changed_keys AS
SELECT r.review_key
FROM batch b
JOIN reviews r USING (source, review_id)
WHERE b.scraped_at >= r.scraped_at AND b.text_norm <> r.text_norm;

DELETE FROM scores WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM embeddings WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM cluster_members WHERE review_key IN (SELECT review_key FROM changed_keys);
