-- Per-title aggregates behind the title_scores view, refreshed by the views stage (and at the
-- end of clean and score) from sql/aggregates/title_stats.sql. Materialized because a
-- single-title lookup through the live aggregation scanned every review (the Bayesian prior
-- needs the mean over all titles): 430 ms on 491k reviews, against 50 ms wanted.
CREATE TABLE title_stats (
    title_id                   VARCHAR NOT NULL,
    title                      VARCHAR NOT NULL,
    scope                      VARCHAR NOT NULL,     -- all | naver | watcha
    n_reviews                  BIGINT NOT NULL,
    n_scored                   BIGINT NOT NULL,
    mean_rating                DOUBLE,
    share_positive             DOUBLE,
    mean_p_positive            DOUBLE,
    sum_score                  DOUBLE,               -- sum of 10 × p_positive
    mean_signed_point          DOUBLE,
    sentiment_rating_agreement DOUBLE,
    PRIMARY KEY (title_id, scope)
);

-- Per scope: the mean of 10 × p_positive over all scored reviews (the Bayesian prior).
CREATE TABLE scope_priors (
    scope      VARCHAR PRIMARY KEY,
    prior_mean DOUBLE
);
