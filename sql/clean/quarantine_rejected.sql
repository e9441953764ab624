-- Rejected rows of the batch (registered as `rejected`) go to the quarantine. A review whose
-- latest version was rejected leaves reviews: the latest version wins, even when it is bad.
DELETE FROM reviews r USING rejected q
WHERE q.review_id IS NOT NULL AND r.source = q.source AND r.review_id = q.review_id
  AND q.scraped_at >= r.scraped_at;

INSERT INTO quarantine BY NAME (
    SELECT stage, source, review_id, title_id, reason, detail, raw, run_id FROM rejected
);
