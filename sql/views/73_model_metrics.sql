-- model_metrics: the numeric held-out metrics of every model version and task, one row per
-- metric (nested ones such as per_label_f1 stay in model_versions.metrics).
CREATE OR REPLACE VIEW model_metrics AS
WITH keyed AS (
    SELECT task, version, kind, is_current, metrics, unnest(json_keys(metrics)) AS metric
    FROM model_versions
    WHERE json_valid(metrics)
)
SELECT
    task,
    version,
    kind,
    is_current,
    metric,
    -- TRY_CAST: DuckDB may evaluate it before the WHERE below drops the non-numbers
    TRY_CAST(json_extract(metrics, '$."' || metric || '"') AS DOUBLE) AS value,
    metric = json_extract_string(metrics, '$.primary') AS is_primary
FROM keyed
WHERE json_type(metrics, '$."' || metric || '"') IN ('DOUBLE', 'BIGINT', 'UBIGINT');
