-- Selector health per source (`kreview status`): how each source's latest scrape went, and
-- which selector, field or client check its structural failures name. A changed site shows
-- here as failures naming one selector across many titles; fix that key in kreview.toml
-- (`kreview scrape --probe TITLE --source S` shows what the page has now).
WITH latest AS (
    -- run ids start with their UTC start time: the greatest is the newest
    SELECT source, max(run_id) AS run_id FROM scrape_titles GROUP BY source
),
titles AS (
    SELECT t.*,
        error LIKE 'MarkupChanged%' OR error LIKE 'RatingScaleMismatch%'
            OR error LIKE 'Refused%' AS structural,
        coalesce(
            nullif(regexp_extract(error, 'selector ''([^'']+)''', 1), ''),
            nullif(regexp_extract(error, 'with (sources\.[a-z_.]+) ', 1), ''),
            CASE WHEN error LIKE 'Refused%' THEN 'sources.' || source || '.api_headers' END
        ) AS culprit
    FROM scrape_titles t
    JOIN latest USING (source, run_id)
)
SELECT
    source,
    run_id,
    count(*) AS titles,
    count(*) FILTER (WHERE status IN ('ok', 'too_few')) AS ok,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    count(*) FILTER (WHERE status = 'not_found') AS not_found,
    count(*) FILTER (WHERE structural) AS structural,
    mode(culprit) FILTER (WHERE structural) AS culprit,
    min(error) FILTER (WHERE structural) AS example
FROM titles
GROUP BY source, run_id
ORDER BY source;
