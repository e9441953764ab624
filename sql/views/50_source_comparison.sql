-- source_comparison: the same title on Naver and Watcha side by side (one row per title that
-- has reviews from at least one source; a missing side is NULL).
CREATE OR REPLACE VIEW source_comparison AS
SELECT
    title_id,
    any_value(title) AS title,
    max(n_reviews) FILTER (WHERE scope = 'naver') AS naver_n_reviews,
    max(n_reviews) FILTER (WHERE scope = 'watcha') AS watcha_n_reviews,
    max(mean_rating) FILTER (WHERE scope = 'naver') AS naver_mean_rating,
    max(mean_rating) FILTER (WHERE scope = 'watcha') AS watcha_mean_rating,
    max(share_positive) FILTER (WHERE scope = 'naver') AS naver_share_positive,
    max(share_positive) FILTER (WHERE scope = 'watcha') AS watcha_share_positive,
    max(title_score_0_10) FILTER (WHERE scope = 'naver') AS naver_title_score,
    max(title_score_0_10) FILTER (WHERE scope = 'watcha') AS watcha_title_score,
    max(title_score_0_10) FILTER (WHERE scope = 'naver')
        - max(title_score_0_10) FILTER (WHERE scope = 'watcha') AS title_score_gap
FROM title_scores
WHERE scope <> 'all'
GROUP BY title_id;
