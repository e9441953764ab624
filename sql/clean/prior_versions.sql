-- The stored versions of the reviews this clean touches (batch_keys: the (source, review_id)
-- of every raw row being cleaned), read once per clean: each chunk's merge joins this small
-- table instead of the whole reviews table. Chunks hold disjoint reviews, so it stays valid
-- while they are merged.
CREATE OR REPLACE TEMP TABLE prior AS
SELECT r.review_key, r.source, r.review_id, r.scraped_at, r.first_seen_run, r.text_norm
FROM reviews r
JOIN (SELECT DISTINCT source, review_id FROM batch_keys) k USING (source, review_id);
