-- Issue 20: nightly cost that follows the new reviews.
-- The content terms of each review (the nouns that cluster keywords weigh), extracted once per
-- review and extractor version, so keywords never analyse a text again. An edited review loses
-- its row (sql/clean/merge_reviews.sql) and gets new terms, as it gets new scores.
CREATE TABLE review_terms (
    review_key    VARCHAR NOT NULL,
    terms_version VARCHAR NOT NULL,   -- extractor and analyzer version (models/scoring/terms.py)
    terms         VARCHAR[] NOT NULL, -- in text order, repeats kept (term counts)
    PRIMARY KEY (review_key, terms_version)
);

-- What the last full clustering of a title saw, per similarity version: the rules that send a
-- title back to a full clustering (models/scoring/incremental.py) compare against it.
CREATE TABLE cluster_state (
    title_id              VARCHAR NOT NULL,
    similarity_version    VARCHAR NOT NULL,
    full_reviews          INTEGER NOT NULL,  -- reviews the full clustering saw
    full_unclustered      DOUBLE NOT NULL,   -- share of them it left unclustered
    added_since_full      INTEGER NOT NULL,  -- reviews assigned incrementally since
    full_at               TIMESTAMPTZ NOT NULL,
    updated_at            TIMESTAMPTZ NOT NULL,
    run_id                VARCHAR NOT NULL,
    PRIMARY KEY (title_id, similarity_version)
);
