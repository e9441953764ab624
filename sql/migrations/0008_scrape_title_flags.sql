-- What a title's scrape saw besides reviews (issue 18): spoiler texts the page kept hidden
-- (its spoiler switch was not turned on) and reviews the site flagged as improper (kept in
-- raw with the flag; the clean stage quarantines them). Rows from before are 0.
ALTER TABLE scrape_titles ADD COLUMN spoiler_hidden INTEGER DEFAULT 0;
ALTER TABLE scrape_titles ADD COLUMN improper INTEGER DEFAULT 0;
