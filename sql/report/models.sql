-- Registered model versions, the current ones first.
SELECT task, version, kind, path, base_id, created_at, is_current, primary_metric,
       primary_value, n_held_out
FROM model_version_summary
ORDER BY is_current DESC, task, created_at DESC, version DESC;
