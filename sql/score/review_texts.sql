-- The texts of the reviews registered as `batch_keys` (the reference clustering analyses them).
SELECT r.review_key, r.text_norm
FROM reviews r
WHERE r.review_key IN (SELECT review_key FROM batch_keys)
