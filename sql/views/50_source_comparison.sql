-- source_comparison: a title's figures per source, one row per (title, source) with scores,
-- and how far that source's title score sits from the other sources' (their mean; NULL when
-- the title has one source). Long, not one column per site: a new source adds rows, not
-- columns, so this view names no site.
CREATE OR REPLACE VIEW source_comparison AS
SELECT
    title_id,
    title,
    scope AS source,
    n_reviews,
    mean_rating,
    share_positive,
    title_score_0_10 AS title_score,
    title_score_0_10 - (
        (sum(title_score_0_10) OVER per_title - title_score_0_10)
        / nullif(count(title_score_0_10) OVER per_title - 1, 0)
    ) AS title_score_gap
FROM title_scores
WHERE scope <> 'all'
WINDOW per_title AS (PARTITION BY title_id);
