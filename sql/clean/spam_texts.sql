-- Texts posted under many distinct titles (copy-pasted promotion, bots). Parameters:
-- $min_titles: distinct titles at or above which a text is spam; $min_chars: shorter texts
-- ("재밌어요", "ㅋㅋ") repeat naturally and are never spam.
CREATE OR REPLACE TEMP TABLE spam_texts AS
SELECT text_norm
FROM reviews
WHERE length >= $min_chars
GROUP BY text_norm
HAVING count(DISTINCT title_id) >= $min_titles;
