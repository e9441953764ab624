-- title_sentiment_distribution: per title and scope ('all' or the source), how its scored
-- reviews spread over ten equal bins of p_positive ([0, 0.1), …, [0.9, 1]). Every bin is
-- present, zero when empty, so a chart or table always shows the whole range.
-- p_positive is stored as float32 (0.9 is 0.8999999762): the 1e-6 keeps such values in the bin
-- their decimal form names.
CREATE OR REPLACE VIEW title_sentiment_distribution AS
WITH scoped AS (
    SELECT title_id, title, source AS scope, p_positive, sentiment
    FROM scored_reviews
    WHERE p_positive IS NOT NULL
    UNION ALL
    SELECT title_id, title, 'all', p_positive, sentiment
    FROM scored_reviews
    WHERE p_positive IS NOT NULL
),
binned AS (
    SELECT
        title_id,
        scope,
        least(CAST(floor(CAST(p_positive AS DOUBLE) * 10 + 1e-6) AS INTEGER), 9) AS bin,
        count(*) AS n_reviews,
        sum(sentiment) AS n_predicted_positive
    FROM scoped
    GROUP BY ALL
),
totals AS (
    SELECT title_id, any_value(title) AS title, scope, count(*) AS n_scored
    FROM scoped
    GROUP BY title_id, scope
)
SELECT
    t.title_id,
    t.title,
    t.scope,
    CAST(b.bin AS INTEGER) AS bin,
    b.bin / 10 AS p_low,
    (b.bin + 1) / 10 AS p_high,
    coalesce(x.n_reviews, 0) AS n_reviews,
    coalesce(x.n_predicted_positive, 0) AS n_predicted_positive,
    coalesce(x.n_reviews, 0) / t.n_scored AS share
FROM totals t
CROSS JOIN range(10) AS b(bin)
LEFT JOIN binned x
    ON x.title_id = t.title_id AND x.scope = t.scope AND x.bin = b.bin;
