-- Per title with a page ($ids) and day: the trend chart and table.
SELECT title_id, day, n_reviews, n_scored, mean_rating, share_positive, mean_p_positive,
       title_score_0_10
FROM daily_title_trend
WHERE list_contains($ids, title_id)
ORDER BY title_id, day;
