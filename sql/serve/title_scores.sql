-- GET /v1/titles/{id}: the title's scores, scope 'all' first, then per source.
SELECT *
FROM title_scores
WHERE title_id = $title_id
ORDER BY scope <> 'all', scope
