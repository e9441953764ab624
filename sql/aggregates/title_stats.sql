-- Rebuild title_stats and scope_priors from scored_reviews (inside the caller's transaction).
DELETE FROM title_stats;

INSERT INTO title_stats
WITH per_source AS (
    SELECT
        title_id,
        any_value(title) AS title,
        source AS scope,
        count(*) AS n_reviews,
        count(sentiment) AS n_scored,
        sum(rating) AS sum_rating,
        count(rating) AS n_rating,
        sum(sentiment) AS sum_sentiment,
        sum(p_positive) AS sum_p,
        sum(signed_point) AS sum_signed,
        sum(CASE WHEN star_sentiment IS NOT NULL AND sentiment IS NOT NULL
                 THEN CAST(sentiment = star_sentiment AS INTEGER) END) AS n_agree,
        count(CASE WHEN star_sentiment IS NOT NULL AND sentiment IS NOT NULL THEN 1 END) AS n_sided,
        count(expected_rating) AS n_predicted,
        sum(expected_rating) AS sum_expected,
        sum(rating_gap) AS sum_gap,
        count(rating_gap) AS n_gap
    FROM scored_reviews
    GROUP BY title_id, source
),
scoped AS (
    SELECT * FROM per_source
    UNION ALL
    -- 'all' re-aggregates the per-source sums: one pass over the reviews, not two
    SELECT title_id, any_value(title), 'all', sum(n_reviews), sum(n_scored), sum(sum_rating),
           sum(n_rating), sum(sum_sentiment), sum(sum_p), sum(sum_signed), sum(n_agree),
           sum(n_sided), sum(n_predicted), sum(sum_expected), sum(sum_gap), sum(n_gap)
    FROM per_source
    GROUP BY title_id
)
SELECT
    title_id, title, scope, n_reviews, n_scored,
    sum_rating / nullif(n_rating, 0),
    sum_sentiment / nullif(n_scored, 0),
    sum_p / nullif(n_scored, 0),
    10 * coalesce(sum_p, 0),
    sum_signed / nullif(n_scored, 0),
    n_agree / nullif(n_sided, 0),
    n_predicted,
    sum_expected / nullif(n_predicted, 0),
    sum_gap / nullif(n_gap, 0)
FROM scoped;

DELETE FROM scope_priors;

INSERT INTO scope_priors
SELECT scope, sum(sum_score) / nullif(sum(n_scored), 0)
FROM title_stats
GROUP BY scope;
