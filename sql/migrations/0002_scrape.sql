-- How each title's scrape went, per run and source. A title collected partly and then
-- failing keeps what it collected (in raw) and says so here; the next run reads `complete`
-- to decide whether it may stop paging at the first review it already has.
CREATE TABLE scrape_titles (
    run_id          VARCHAR NOT NULL,
    source          VARCHAR NOT NULL,
    title_id        VARCHAR NOT NULL,  -- kreview id of the titles-list entry
    title           VARCHAR NOT NULL,
    year            INTEGER,
    source_title_id VARCHAR,           -- the site's id of the film; null when not found
    status          VARCHAR NOT NULL,  -- ok | too_few | failed | not_found
    collected       INTEGER NOT NULL,  -- new reviews this run wrote to raw
    total           INTEGER NOT NULL,  -- the title's reviews from this source in raw, after the run
    rejected        INTEGER NOT NULL,  -- items sent to the quarantine
    duplicates      INTEGER NOT NULL,  -- reviews met again (collected before)
    pages           INTEGER NOT NULL,  -- payloads or page loads fetched
    complete        BOOLEAN NOT NULL,  -- paging ended normally: end of list, cap, or known reviews
    error           VARCHAR,           -- why it failed (names the source and selector on markup changes)
    finished_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, source, title_id)
);
