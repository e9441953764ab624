-- The stages of the run the report describes, in the order they ran.
SELECT run_id, command, run_status, run_started_at, stage, status, started_at, finished_at,
       seconds, rows_in, rows_out, rows_rejected, reviews_per_s, error
FROM run_stage_rows
WHERE run_id = $run_id
ORDER BY started_at, stage;
