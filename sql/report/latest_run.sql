-- The run a report made outside the pipeline describes: the one whose stage started last.
SELECT run_id
FROM run_stage_rows
ORDER BY started_at DESC, run_id DESC
LIMIT 1;
