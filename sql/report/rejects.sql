-- Rows the run sent to the quarantine, by stage, source and reason.
SELECT stage, source, reason, n_rows
FROM quarantine_reasons
WHERE run_id = $run_id
ORDER BY n_rows DESC, stage, reason, source;
