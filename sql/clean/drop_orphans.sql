-- After reviews left the table (rejected latest version, spam): their scores go too.
DELETE FROM scores WHERE review_key NOT IN (SELECT review_key FROM reviews);
DELETE FROM embeddings WHERE review_key NOT IN (SELECT review_key FROM reviews);
DELETE FROM cluster_members WHERE review_key NOT IN (SELECT review_key FROM reviews);
DELETE FROM review_terms WHERE review_key NOT IN (SELECT review_key FROM reviews);
DELETE FROM rating_scores WHERE review_key NOT IN (SELECT review_key FROM reviews);
