-- Run ledger: one row per run, one row per (run, stage).
-- status of a run: running | succeeded | failed | interrupted
-- status of a stage: running | succeeded | failed | interrupted | skipped
CREATE TABLE runs (
    run_id      VARCHAR PRIMARY KEY,
    command     VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,
    error       VARCHAR
);

CREATE TABLE run_stages (
    run_id        VARCHAR NOT NULL,
    stage         VARCHAR NOT NULL,
    started_at    TIMESTAMPTZ NOT NULL,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR NOT NULL,
    rows_in       BIGINT,
    rows_out      BIGINT,
    rows_rejected BIGINT,
    error         VARCHAR,
    -- stage-specific figures (JSON text), e.g. reviews/s, per-source counts
    details       VARCHAR,
    PRIMARY KEY (run_id, stage)
);

-- Every rejected row from any stage, with its reason and enough of the input to look at it.
CREATE TABLE quarantine (
    stage          VARCHAR NOT NULL,
    source         VARCHAR,
    review_id      VARCHAR,
    title_id       VARCHAR,
    reason         VARCHAR NOT NULL,
    detail         VARCHAR,
    -- the raw text or snippet as it arrived (truncated to a few KB)
    raw            VARCHAR,
    run_id         VARCHAR NOT NULL,
    quarantined_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
