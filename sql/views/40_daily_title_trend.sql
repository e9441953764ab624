-- daily_title_trend: per title and day the review was written (scrape day when unknown),
-- how many reviews arrived and their mean scores.
CREATE OR REPLACE VIEW daily_title_trend AS
SELECT
    title_id,
    any_value(title) AS title,
    day,
    count(*) AS n_reviews,
    count(sentiment) AS n_scored,
    avg(rating) AS mean_rating,
    avg(sentiment) AS share_positive,
    avg(p_positive) AS mean_p_positive,
    ((avg(signed_point) + 1) / 2) * 10 AS title_score_0_10
FROM scored_reviews
GROUP BY title_id, day;
