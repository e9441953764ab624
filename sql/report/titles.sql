-- The titles that get a page ($ids), overall and per source (title_scores).
SELECT title_id, title, scope, n_reviews, n_scored, mean_rating, share_positive,
       mean_p_positive, bayes_score, title_score_0_10, sentiment_rating_agreement, n_predicted,
       mean_predicted_rating, mean_rating_gap
FROM title_scores
WHERE list_contains($ids, title_id)
ORDER BY title, title_id, scope;
