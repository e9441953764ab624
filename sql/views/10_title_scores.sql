-- title_scores: per title, overall (scope 'all') and per source (scope = the source's name).
-- Reads title_stats (sql/aggregates/title_stats.sql), which the views stage refreshes after
-- every clean and score, so a single-title lookup touches one title's rows.
-- bayes_score shrinks a title's mean 10×p_positive toward the mean of its scope with the
-- weight of 10 reviews (prior), so a title with 3 glowing reviews does not outrank one with 300.
-- title_score_0_10 is the earlier team's score: mean signed_point mapped by ((avg + 1) / 2) * 10.
-- mean_predicted_rating: the mean stars read from the text (each review's expected stars) over
-- n_predicted reviews, rated or not; mean_rating_gap: the mean of (expected - given stars)
-- over the reviews that have both (positive: the texts read better than their stars).
CREATE OR REPLACE VIEW title_scores AS
SELECT
    s.title_id,
    s.title,
    s.scope,
    s.n_reviews,
    s.n_scored,
    s.mean_rating,
    s.share_positive,
    s.mean_p_positive,
    (10 * p.prior_mean + s.sum_score) / (10 + s.n_scored) AS bayes_score,
    ((s.mean_signed_point + 1) / 2) * 10 AS title_score_0_10,
    s.sentiment_rating_agreement,
    s.n_predicted,
    s.mean_predicted_rating,
    s.mean_rating_gap
FROM title_stats s
LEFT JOIN scope_priors p USING (scope);
