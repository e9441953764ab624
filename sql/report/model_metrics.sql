-- Every numeric held-out metric of the current model versions.
SELECT task, version, kind, metric, value, is_primary
FROM model_metrics
WHERE is_current
ORDER BY task, is_primary DESC, metric;
