-- Naver and Watcha side by side, per title with a page ($ids).
SELECT title_id, naver_n_reviews, watcha_n_reviews, naver_mean_rating, watcha_mean_rating,
       naver_share_positive, watcha_share_positive, naver_title_score, watcha_title_score,
       title_score_gap
FROM source_comparison
WHERE list_contains($ids, title_id);
