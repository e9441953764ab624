-- quarantine_reasons: rows sent to the quarantine, counted per run, stage, source and reason.
CREATE OR REPLACE VIEW quarantine_reasons AS
SELECT
    run_id,
    stage,
    source,
    reason,
    count(*) AS n_rows,
    min(quarantined_at) AS first_at,
    max(quarantined_at) AS last_at
FROM quarantine
GROUP BY run_id, stage, source, reason;
