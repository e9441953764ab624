-- title_scores: per title, overall (scope 'all') and per source (scope 'naver' / 'watcha').
-- bayes_score shrinks a title's mean 10×p_positive toward the mean of its scope with the
-- weight of 10 reviews (prior), so a title with 3 glowing reviews does not outrank one with 300.
-- title_score_0_10 is the earlier team's score: mean signed_point mapped by ((avg + 1) / 2) * 10.
CREATE OR REPLACE VIEW title_scores AS
WITH per_scope AS (
    SELECT title_id, title, source AS scope, sentiment, p_positive, signed_point, rating,
           star_sentiment
    FROM scored_reviews
    UNION ALL
    SELECT title_id, title, 'all' AS scope, sentiment, p_positive, signed_point, rating,
           star_sentiment
    FROM scored_reviews
),
agg AS (
    SELECT
        title_id,
        any_value(title) AS title,
        scope,
        count(*) AS n_reviews,
        count(sentiment) AS n_scored,
        avg(rating) AS mean_rating,
        avg(sentiment) AS share_positive,
        avg(p_positive) AS mean_p_positive,
        sum(10 * p_positive) AS sum_score,
        avg(signed_point) AS mean_signed_point,
        avg(CASE WHEN star_sentiment IS NOT NULL AND sentiment IS NOT NULL
                 THEN CAST(sentiment = star_sentiment AS INTEGER) END) AS sentiment_rating_agreement
    FROM per_scope
    GROUP BY title_id, scope
),
prior AS (
    SELECT scope, avg(10 * p_positive) AS prior_mean
    FROM per_scope
    GROUP BY scope
)
SELECT
    a.title_id,
    a.title,
    a.scope,
    a.n_reviews,
    a.n_scored,
    a.mean_rating,
    a.share_positive,
    a.mean_p_positive,
    (10 * p.prior_mean + a.sum_score) / (10 + a.n_scored) AS bayes_score,
    ((a.mean_signed_point + 1) / 2) * 10 AS title_score_0_10,
    a.sentiment_rating_agreement
FROM agg a
JOIN prior p USING (scope);
