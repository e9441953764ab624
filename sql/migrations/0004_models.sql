-- Mirror of the model registry (warehouse/models/<task>/<version>/): which versions exist and
-- which one is current per task. Views read the versions marked current.
CREATE TABLE model_versions (
    task       VARCHAR NOT NULL,      -- sentiment | emotion | similarity
    version    VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,      -- folder relative to the warehouse root
    metrics    JSON,                  -- metrics.json on the held-out set
    created_at TIMESTAMPTZ NOT NULL,
    is_current BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (task, version)
);
