-- Merge the rows of a cleaned chunk whose review is already stored (registered as `batch`, one
-- row per review; the others go through insert_new.sql) into reviews: the latest
-- scraped version of a review wins; first_seen_run stays that of the first clean that saw it.
-- `prior` (sql/clean/prior_versions.sql) holds the stored versions of this clean's reviews.

-- Scores (and terms) of reviews whose normalized text changed are stale: drop them so they
-- are computed again.
CREATE OR REPLACE TEMP TABLE changed_keys AS
SELECT p.review_key
FROM batch b
JOIN prior p USING (source, review_id)
WHERE b.scraped_at >= p.scraped_at AND b.text_norm <> p.text_norm;

DELETE FROM scores WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM embeddings WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM cluster_members WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM review_terms WHERE review_key IN (SELECT review_key FROM changed_keys);
DELETE FROM rating_scores WHERE review_key IN (SELECT review_key FROM changed_keys);

-- Stored versions that a batch row replaces (at least as new: an older version arriving late
-- loses) leave; the batch rows come in.
DELETE FROM reviews r USING (
    SELECT p.source, p.review_id
    FROM batch b
    JOIN prior p USING (source, review_id)
    WHERE b.scraped_at >= p.scraped_at
) i
WHERE r.source = i.source AND r.review_id = i.review_id;

INSERT INTO reviews BY NAME (
    SELECT b.* REPLACE (coalesce(p.first_seen_run, b.first_seen_run) AS first_seen_run)
    FROM batch b
    LEFT JOIN prior p USING (source, review_id)
    WHERE p.review_id IS NULL OR b.scraped_at >= p.scraped_at
);
