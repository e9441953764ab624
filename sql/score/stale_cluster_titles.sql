-- Titles whose clusters no longer match their embedded reviews (new reviews scored, reviews
-- edited or removed): the number of embedded reviews differs from the members on record.
WITH embedded AS (
    SELECT r.title_id, count(*) AS n
    FROM reviews r
    JOIN embeddings e ON e.review_key = r.review_key AND e.similarity_version = $version
    GROUP BY r.title_id
),
members AS (
    SELECT m.title_id, count(*) AS n
    FROM cluster_members m
    JOIN reviews r ON r.review_key = m.review_key
    WHERE m.similarity_version = $version
    GROUP BY m.title_id
)
SELECT e.title_id
FROM embedded e
LEFT JOIN members m USING (title_id)
WHERE m.n IS NULL OR m.n <> e.n
ORDER BY e.title_id
