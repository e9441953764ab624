-- scored_reviews: one row per clean review with its scores by the CURRENT model versions.
-- Every per-title view reads this one, so "which model produced this number" is decided here
-- once: the sentiment, emotion and rating versions marked current in model_versions.
-- Reviews not yet scored by the current versions have NULL scores (counted, not guessed).
CREATE OR REPLACE VIEW scored_reviews AS
WITH cur AS (
    SELECT
        max(version) FILTER (WHERE task = 'sentiment' AND is_current) AS sentiment_version,
        max(version) FILTER (WHERE task = 'emotion' AND is_current) AS emotion_version,
        max(version) FILTER (WHERE task = 'rating' AND is_current) AS rating_version
    FROM model_versions
)
SELECT
    r.review_key,
    r.source,
    r.review_id,
    r.title_id,
    r.title,
    r.rating,
    r.text_norm,
    r.text_raw,
    r.text_rating,
    CAST(coalesce(r.written_at, r.scraped_at) AS DATE) AS day,
    s.sentiment,
    s.p_positive,
    s.emotions,
    s.top_emotions,
    s.emotion_point,
    -- the earlier team's per-review score: ±1 sentiment × emotion_point, in [-1, 1]
    (2 * s.sentiment - 1) * s.emotion_point AS signed_point,
    -- what the stars say: >= 7 positive, <= 4 negative, 5–6 no clear side (NULL)
    CASE WHEN r.rating >= 7 THEN 1 WHEN r.rating <= 4 THEN 0 END AS star_sentiment,
    -- stars read from the text (the rating head): the median star (the best single guess)
    -- and the mean (what averages use); NULL until a rating model is current and has run
    p.predicted_rating,
    p.expected_rating,
    -- how much higher (positive) or lower the text reads than the stars given
    p.expected_rating - r.rating AS rating_gap
FROM reviews r
CROSS JOIN cur
LEFT JOIN scores s
    ON s.review_key = r.review_key
   AND s.sentiment_version = cur.sentiment_version
   AND s.emotion_version = cur.emotion_version
LEFT JOIN rating_scores p
    ON p.review_key = r.review_key
   AND p.rating_version = cur.rating_version;
