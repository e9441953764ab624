-- Reviews without terms from the current extractor ($terms_version): new and edited reviews,
-- or every review after the extractor changed.
SELECT r.review_key, r.text_norm
FROM reviews r
ANTI JOIN review_terms t ON t.review_key = r.review_key AND t.terms_version = $terms_version
ORDER BY r.review_key
