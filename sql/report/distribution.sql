-- Sentiment distribution (ten bins of p_positive) per title with a page ($ids) and scope.
SELECT title_id, scope, bin, p_low, p_high, n_reviews, n_predicted_positive, share
FROM title_sentiment_distribution
WHERE list_contains($ids, title_id)
ORDER BY title_id, scope, bin;
