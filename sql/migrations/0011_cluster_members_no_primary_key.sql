-- cluster_members loses its primary key; uniqueness of (review_key, similarity_version) is a
-- data test beside it (sql/migrations/schema.toml), as for reviews. The table is only ever
-- written by replacing whole titles (sql/score/replace_clusters.sql) and read by joins, never
-- by key lookup, so the ART index bought nothing and cost the most of a recluster's commits:
-- on the 454k members of bench/recluster.py's warehouse (every title with 20 reviews or more),
-- 1.24 s of commits with it and 0.33 s without. DuckDB cannot drop a primary key in place, so
-- the table is rebuilt (as 0007 rebuilt reviews). Columns and order as in 0005.
CREATE TABLE cluster_members_rebuilt (
    review_key         VARCHAR NOT NULL,
    title_id           VARCHAR NOT NULL,
    similarity_version VARCHAR NOT NULL,
    cluster_id         INTEGER NOT NULL
);

INSERT INTO cluster_members_rebuilt SELECT * FROM cluster_members;

DROP TABLE cluster_members;

ALTER TABLE cluster_members_rebuilt RENAME TO cluster_members;
