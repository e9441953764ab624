-- Issue 22: predicted stars, from the joint model's rating head (models/heads.py), one row per
-- review and rating version. Its own table because a rating version need not be the
-- sentiment/emotion pair `scores` is keyed by: a registry whose models predate the rating
-- head scores without it, and these rows arrive when a rating model becomes current.
-- An edited review loses its row (sql/clean/merge_reviews.sql) and is predicted again.
CREATE TABLE rating_scores (
    review_key       VARCHAR NOT NULL,
    rating_version   VARCHAR NOT NULL,
    predicted_rating FLOAT NOT NULL,   -- the median star of the predicted distribution, 1–10
    expected_rating  FLOAT NOT NULL,   -- its mean, 1–10 (what title averages are built from)
    scored_at        TIMESTAMPTZ NOT NULL,
    run_id           VARCHAR NOT NULL,
    PRIMARY KEY (review_key, rating_version)
);

-- Per title and scope: the mean expected stars over its predicted reviews, and the mean of
-- (expected - actual stars) over the reviews that have both: how much higher (positive) or
-- lower the text reads than the stars given. NULL where there is nothing to average.
ALTER TABLE title_stats ADD COLUMN n_predicted BIGINT;
ALTER TABLE title_stats ADD COLUMN mean_predicted_rating DOUBLE;
ALTER TABLE title_stats ADD COLUMN mean_rating_gap DOUBLE;
