-- GET /v1/titles: how many titles match, over all pages (same filter as titles.sql).
SELECT count(*) AS total
FROM title_scores
WHERE scope = $scope
  AND ($q = '' OR contains(lower(title), lower($q)))
