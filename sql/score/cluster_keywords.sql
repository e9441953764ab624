-- Keywords of every cluster whose keywords are pending (NULL: written by a recluster's title
-- batches, models/scoring/recluster.py, and filled once they are all written), from the terms
-- stored per review: c-TF-IDF (BERTopic) with each cluster as one document.
-- Weight of term t in cluster c: tf(t, c) / words(c) * ln(1 + A / f(t)), A the mean words per
-- cluster of the title, f(t) the count of t over all its clusters; best $top_k first, ties by
-- term. No text is analysed here: the terms were extracted once, when the review was scored.
-- A title's clusters are always written together, so they are pending together.
WITH pending AS (
    SELECT m.title_id, m.cluster_id, m.review_key
    FROM clusters c
    JOIN cluster_members m
        ON m.title_id = c.title_id AND m.cluster_id = c.cluster_id
       AND m.similarity_version = c.similarity_version
    WHERE c.keywords IS NULL AND c.similarity_version = $version
),
counts AS (
    SELECT m.title_id, m.cluster_id, u.term, count(*) AS n
    FROM pending m
    JOIN review_terms t ON t.review_key = m.review_key AND t.terms_version = $terms_version,
    unnest(t.terms) AS u(term)
    GROUP BY ALL
),
cluster_words AS (
    SELECT title_id, cluster_id, sum(n) AS words FROM counts GROUP BY ALL
),
term_freq AS (
    SELECT title_id, term, sum(n) AS f FROM counts GROUP BY ALL
),
-- A counts every cluster of the title, those whose members have no terms too.
mean_words AS (
    SELECT k.title_id, sum(w.words) / any_value(k.n_clusters) AS a
    FROM (
        SELECT title_id, count(DISTINCT cluster_id) AS n_clusters
        FROM pending GROUP BY ALL
    ) k
    JOIN cluster_words w USING (title_id)
    GROUP BY ALL
),
weighted AS (
    SELECT c.title_id, c.cluster_id, c.term,
           (c.n / w.words) * ln(1 + m.a / f.f) AS weight
    FROM counts c
    JOIN cluster_words w USING (title_id, cluster_id)
    JOIN term_freq f USING (title_id, term)
    JOIN mean_words m USING (title_id)
)
SELECT title_id, cluster_id, list(term ORDER BY weight DESC, term)[1:$top_k] AS keywords
FROM weighted
GROUP BY ALL
