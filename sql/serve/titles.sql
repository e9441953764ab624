-- GET /v1/titles: one page of titles in a scope, most reviewed first; $q filters by a
-- case-insensitive substring of the title ('' = every title).
SELECT *
FROM title_scores
WHERE scope = $scope
  AND ($q = '' OR contains(lower(title), lower($q)))
ORDER BY n_reviews DESC, title_id
LIMIT $limit OFFSET $offset
