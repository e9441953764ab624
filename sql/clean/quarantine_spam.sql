-- Move reviews whose text is in spam_texts to the quarantine (reason 'spam'), then drop them.
INSERT INTO quarantine (stage, source, review_id, title_id, reason, detail, raw, run_id)
SELECT 'clean', r.source, r.review_id, r.title_id, 'spam',
       'same text under ' || $min_titles || '+ titles', left(r.text_raw, 4000), $run_id
FROM reviews r JOIN spam_texts s USING (text_norm);

DELETE FROM reviews WHERE text_norm IN (SELECT text_norm FROM spam_texts);
