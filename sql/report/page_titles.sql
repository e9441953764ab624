-- The titles that get a page of their own: the $by_reviews most reviewed, then the
-- $by_disagreements with the most sentiment/star disagreements among the others.
WITH by_reviews AS (
    SELECT title_id, 'reviews' AS reason
    FROM title_scores
    WHERE scope = 'all'
    ORDER BY n_reviews DESC, title_id
    LIMIT $by_reviews
),
by_disagreements AS (
    SELECT title_id, 'disagreements' AS reason
    FROM sentiment_rating_disagreements
    WHERE title_id NOT IN (SELECT title_id FROM by_reviews)
    GROUP BY title_id
    ORDER BY count(*) DESC, title_id
    LIMIT $by_disagreements
)
SELECT title_id, reason FROM by_reviews
UNION ALL
SELECT title_id, reason FROM by_disagreements;
