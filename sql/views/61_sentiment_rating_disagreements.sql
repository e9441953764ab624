-- sentiment_rating_disagreements: scored reviews whose predicted sentiment contradicts a clear
-- star rating (>= 7 stars read negative, <= 4 stars read positive), ranked within each title by
-- how sure the model was (confidence = |p_positive - 0.5| × 2). The confident ones are worth a
-- human look: sarcasm, a slip of the star, or a model error.
CREATE OR REPLACE VIEW sentiment_rating_disagreements AS
SELECT
    review_key,
    source,
    review_id,
    title_id,
    title,
    day,
    rating,
    star_sentiment,
    sentiment,
    p_positive,
    abs(p_positive - 0.5) * 2 AS confidence,
    row_number() OVER (
        PARTITION BY title_id ORDER BY abs(p_positive - 0.5) DESC, review_key
    ) AS rank_in_title,
    text_raw
FROM scored_reviews
WHERE star_sentiment IS NOT NULL
  AND sentiment IS NOT NULL
  AND sentiment <> star_sentiment;
