-- run_stage_rows: every stage of every run from the ledger, with its run's command and status,
-- its duration and the throughput the stage reported (details.reviews_per_s; NULL when the
-- stage reports none). details keeps the stage's own figures as JSON text.
CREATE OR REPLACE VIEW run_stage_rows AS
SELECT
    s.run_id,
    r.command,
    r.status AS run_status,
    r.started_at AS run_started_at,
    s.stage,
    s.status,
    s.started_at,
    s.finished_at,
    epoch(s.finished_at) - epoch(s.started_at) AS seconds,
    s.rows_in,
    s.rows_out,
    s.rows_rejected,
    TRY_CAST(json_extract(s.details, '$.reviews_per_s') AS DOUBLE) AS reviews_per_s,
    json_extract_string(s.details, '$.device') AS device,
    s.error,
    s.details
FROM run_stages s
JOIN runs r USING (run_id);
