-- The reviews whose predicted stars differ most from the stars given, $per_title per title
-- with a page ($ids): largest |rating_gap| (expected minus given stars, scored_reviews) first.
-- Only reviews with both: none while no rating model is current.
SELECT title_id,
       row_number() OVER (
           PARTITION BY title_id ORDER BY abs(rating_gap) DESC, review_key
       ) AS rank_in_title,
       source, review_id, day, rating, predicted_rating, expected_rating, rating_gap, text_raw
FROM scored_reviews
WHERE rating_gap IS NOT NULL AND list_contains($ids, title_id)
QUALIFY rank_in_title <= $per_title
ORDER BY title_id, rank_in_title;
