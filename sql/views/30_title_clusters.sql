-- title_clusters: per title, its similarity clusters (current similarity version) with size,
-- share of the title's clustered reviews, the most central review and the keywords.
CREATE OR REPLACE VIEW title_clusters AS
WITH cur AS (
    SELECT max(version) FILTER (WHERE task = 'similarity' AND is_current) AS version
    FROM model_versions
)
SELECT
    c.title_id,
    r.title,
    c.cluster_id,
    c.size,
    c.size / sum(c.size) OVER (PARTITION BY c.title_id) AS share,
    c.representative_key,
    r.text_raw AS representative_text,
    coalesce(c.keywords, []::VARCHAR[]) AS keywords  -- pending (a killed recluster): none yet
FROM clusters c
JOIN cur ON c.similarity_version = cur.version
JOIN reviews r ON r.review_key = c.representative_key;
