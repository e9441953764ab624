-- model_version_summary: every registered model version per task (mirrored from the registry
-- into model_versions) with its primary held-out metric pulled out of the metrics JSON.
CREATE OR REPLACE VIEW model_version_summary AS
SELECT
    task,
    version,
    kind,
    path,
    base_id,
    created_at,
    is_current,
    json_extract_string(metrics, '$.primary') AS primary_metric,
    TRY_CAST(
        json_extract(metrics, '$."' || json_extract_string(metrics, '$.primary') || '"') AS DOUBLE
    ) AS primary_value,
    TRY_CAST(json_extract(metrics, '$.n') AS BIGINT) AS n_held_out
FROM model_versions;
