-- The last $limit successful score stages: how fast the current setup scores.
SELECT run_id, started_at, rows_out, seconds, reviews_per_s, device
FROM run_stage_rows
WHERE stage = 'score' AND status = 'succeeded'
ORDER BY started_at DESC
LIMIT $limit;
