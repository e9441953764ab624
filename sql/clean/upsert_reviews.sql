-- Merge the cleaned batch (registered as `batch`) into reviews: the latest scraped version of a
-- review wins; first_seen_run is kept from the first time the review was cleaned.
INSERT INTO reviews BY NAME (SELECT * FROM batch)
ON CONFLICT (source, review_id) DO UPDATE SET
    review_key      = excluded.review_key,
    title_id        = excluded.title_id,
    title           = excluded.title,
    source_title_id = excluded.source_title_id,
    rating          = excluded.rating,
    text_raw        = excluded.text_raw,
    text_norm       = excluded.text_norm,
    laugh_count     = excluded.laugh_count,
    cry_count       = excluded.cry_count,
    emoji_count     = excluded.emoji_count,
    emojis          = excluded.emojis,
    text_rating     = excluded.text_rating,
    hangul_ratio    = excluded.hangul_ratio,
    length          = excluded.length,
    truncated       = excluded.truncated,
    author_hash     = excluded.author_hash,
    written_at      = excluded.written_at,
    likes           = excluded.likes,
    spoiler         = excluded.spoiler,
    url             = excluded.url,
    scraped_at      = excluded.scraped_at,
    last_seen_run   = excluded.last_seen_run
WHERE excluded.scraped_at >= reviews.scraped_at;
