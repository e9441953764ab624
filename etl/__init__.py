"""Extract, transform, load: scraping, normalization, cleaning, exports."""
