-- Clean reviews: one row per (source, review_id), the latest scraped version wins.
-- text_raw is exactly as scraped; text_norm is what models read (etl/normalize.py).
CREATE TABLE reviews (
    review_key      VARCHAR NOT NULL,          -- stable hash of (source, review_id)
    source          VARCHAR NOT NULL,
    review_id       VARCHAR NOT NULL,
    title_id        VARCHAR NOT NULL,
    title           VARCHAR NOT NULL,
    source_title_id VARCHAR NOT NULL,
    rating          FLOAT,                     -- 0–10
    text_raw        VARCHAR NOT NULL,
    text_norm       VARCHAR NOT NULL,
    laugh_count     INTEGER NOT NULL,          -- runs of ㅋ/ㅎ
    cry_count       INTEGER NOT NULL,          -- runs of ㅠ/ㅜ
    emoji_count     INTEGER NOT NULL,
    emojis          VARCHAR[],
    text_rating     FLOAT,                     -- rating written in the text ("6.3점"), 0–10
    hangul_ratio    FLOAT NOT NULL,
    length          INTEGER NOT NULL,          -- characters of text_norm
    truncated       BOOLEAN NOT NULL,
    author_hash     VARCHAR,
    written_at      TIMESTAMPTZ,
    likes           INTEGER,
    spoiler         BOOLEAN,
    url             VARCHAR NOT NULL,
    scraped_at      TIMESTAMPTZ NOT NULL,
    first_seen_run  VARCHAR NOT NULL,
    last_seen_run   VARCHAR NOT NULL
    -- Unique on (source, review_id) and on review_key. Not declared as a key: DuckDB maintains
    -- an ART index per key on every insert, which cost more than the whole rest of the clean
    -- stage. The merge in sql/clean/merge_reviews.sql keeps the rows unique, and the data tests
    -- (sql/migrations/schema.toml) check it.
);

-- Raw Parquet files already cleaned (path relative to the warehouse's raw/ folder).
CREATE TABLE cleaned_files (
    path       VARCHAR PRIMARY KEY,
    rows       BIGINT NOT NULL,
    run_id     VARCHAR NOT NULL,
    cleaned_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
