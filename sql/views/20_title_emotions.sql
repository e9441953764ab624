-- title_emotions: per title and KOTE emotion, the mean intensity over the title's scored
-- reviews and the share of those reviews where the emotion is among their top emotions.
CREATE OR REPLACE VIEW title_emotions AS
SELECT
    r.title_id,
    any_value(r.title) AS title,
    e.idx AS emotion_idx,
    e.label AS emotion,
    count(*) AS n_scored,
    avg(r.emotions[e.idx + 1]) AS mean_intensity,
    avg(CAST(list_contains(r.top_emotions, e.label) AS INTEGER)) AS top_share
FROM scored_reviews r
CROSS JOIN emotion_labels e
WHERE r.emotions IS NOT NULL
GROUP BY r.title_id, e.idx, e.label;
