-- The index: every title, most reviewed first, with its scores of scope 'all' (title_scores)
-- and, for the sparkline, the daily title scores of its last $points days with reviews, oldest
-- first.
WITH recent AS (
    SELECT title_id, day, title_score_0_10
    FROM daily_title_trend
    QUALIFY row_number() OVER (PARTITION BY title_id ORDER BY day DESC) <= $points
),
spark AS (
    SELECT title_id, list(title_score_0_10 ORDER BY day) AS spark
    FROM recent
    GROUP BY title_id
)
SELECT s.title_id, s.title, s.n_reviews, s.n_scored, s.mean_rating, s.share_positive,
       s.bayes_score, s.title_score_0_10, s.sentiment_rating_agreement, s.n_predicted,
       s.mean_predicted_rating, s.mean_rating_gap,
       coalesce(k.spark, []) AS spark
FROM title_scores s
LEFT JOIN spark k USING (title_id)
WHERE s.scope = 'all'
ORDER BY s.n_reviews DESC, s.title, s.title_id;
