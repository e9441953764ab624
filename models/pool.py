"""The pool of 493,882 rated Naver reviews (``unlabeled/nsmc_raw_pool.tsv.gz``) as training data.

Two tasks read it:

- ``rating``: every review with its user's 1–10 stars (``labels`` float32).
- ``sentiment``: the reviews NSMC's own rule would label (1–4 negative, 9–10 positive: NSMC's
  labels are the same site's stars thresholded), class-balanced: every row of the smaller
  class (the negatives, on the real pool) and a seeded sample of as many of the larger. Why
  balance by sampling rather than weighting: the pool holds 12.7 positives per negative, NSMC
  test is balanced, and weighting would spend 93% of the extra (CPU-expensive) steps on
  positives to learn little more than the prior.

The split is by title (``movie_id``), so no title has reviews on both sides: a title is held
out when ``sha256("kreview-pool:<movie_id>")`` is divisible by 20 (686 of 14,103 titles,
24,338 reviews). A spec names its side: ``<path>`` is the training titles, ``<path>#held-out``
the held-out ones. Both tasks train only on the training titles.

NSMC test must not leak into training through near-duplicates: pool rows whose normalized text
equals a normalized NSMC test text are dropped. The NSMC test file is found where
../shared/data keeps it (``<data>/nsmc/ratings_test.txt.gz`` for ``<data>/unlabeled/<pool>``);
without it the pool is refused rather than read unchecked. What was dropped and kept is
recorded in ``Examples.counts`` (and from there in the model's card).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from models.data import DataError, Examples, normalized_frame, read_nsmc

POOL_COLUMNS = ("id", "movie_id", "rating", "date", "document")
HELD_OUT_SUFFIX = "#held-out"
HELD_OUT_EVERY = 20  # one title in 20 (by hash) is held out
SPLIT_SALT = "kreview-pool:"
NEGATIVE_MAX = 4  # NSMC: 1-4 stars negative
POSITIVE_MIN = 9  # NSMC: 9-10 stars positive
STARS = (1, 10)
BALANCE_SEED = 20261205


def split_spec(spec: str) -> tuple[Path, bool]:
    """``"<path>#held-out"`` -> (path, True); ``"<path>"`` -> (path, False)."""
    if spec.endswith(HELD_OUT_SUFFIX):
        return Path(spec[: -len(HELD_OUT_SUFFIX)]).expanduser(), True
    return Path(spec).expanduser(), False


def held_out_spec(spec: str) -> str:
    """The held-out side of a pool spec."""
    path, _ = split_spec(spec)
    return f"{path}{HELD_OUT_SUFFIX}"


def is_held_out_title(movie_id: int) -> bool:
    """The split rule: stable across machines and library versions (not Python's hash)."""
    digest = hashlib.sha256(f"{SPLIT_SALT}{movie_id}".encode()).hexdigest()
    return int(digest, 16) % HELD_OUT_EVERY == 0


def is_pool_file(path: Path) -> bool:
    """True when the file's header is the pool's (so a sentiment spec may name the pool)."""
    try:
        head = pl.read_csv(path, separator="\t", quote_char=None, n_rows=1, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError):
        return False
    return tuple(head.columns) == POOL_COLUMNS


def nsmc_test_path(pool: Path) -> Path:
    """NSMC test in ../shared/data's layout (``ratings_test.txt.gz``, or unpacked)."""
    folder = pool.resolve().parent.parent / "nsmc"
    unpacked = folder / "ratings_test.txt"
    return unpacked if unpacked.is_file() else folder / "ratings_test.txt.gz"


def _read(path: Path, *, normalize: bool) -> tuple[pl.DataFrame, dict[str, int]]:
    """The pool's rows (normalized, NSMC-test duplicates dropped) with a ``held_out`` column."""
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    try:
        df = pl.read_csv(
            path,
            separator="\t",
            quote_char=None,
            schema_overrides={"date": pl.Utf8, "document": pl.Utf8, "rating": pl.Int64},
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: not a pool file: {exc}") from exc
    if tuple(df.columns) != POOL_COLUMNS:
        raise DataError(f"{path}: expected columns {', '.join(POOL_COLUMNS)}; got {df.columns}")
    lo, hi = STARS
    bad = df.filter(~pl.col("rating").is_between(lo, hi)).height
    if bad:
        # Fail loudly: a file on another scale would otherwise train the head on it silently.
        raise DataError(f"{path}: {bad:,} rows have a rating outside {lo}-{hi} stars")
    read = df.height
    df = normalized_frame(df, "document", normalize=normalize)
    test_path = nsmc_test_path(path)
    if not test_path.is_file():
        raise DataError(
            f"{path}: NSMC test not found at {test_path}, needed to drop its near-duplicates "
            "from the pool (keep ../shared/data's layout: nsmc/ beside unlabeled/)"
        )
    test_texts = pl.Series("document", read_nsmc(test_path, normalize=normalize).texts)
    leaked = df["document"].is_in(test_texts.implode())
    df = df.filter(~leaked).with_columns(
        pl.col("movie_id")
        .map_elements(is_held_out_title, return_dtype=pl.Boolean, skip_nulls=False)
        .alias("held_out")
    )
    counts = {
        "pool_rows_read": read,
        "pool_rows_empty_after_normalization": read - int(leaked.len()),
        "pool_rows_equal_to_nsmc_test": int(leaked.sum()),
        "pool_rows_held_out_titles": int(df["held_out"].sum()),
        "pool_titles_held_out": int(df.filter(pl.col("held_out"))["movie_id"].n_unique()),
    }
    return df, counts


def read_pool_ratings(spec: str, *, normalize: bool = True) -> Examples:
    """``rating`` examples (stars 1–10 as float32) of one side of the split."""
    path, held_out = split_spec(spec)
    df, counts = _read(path, normalize=normalize)
    part = df.filter(pl.col("held_out") == held_out)
    counts["rows"] = part.height
    return Examples(
        "rating",
        tuple(part["document"].to_list()),
        part["rating"].cast(pl.Float32).to_numpy(),
        source=spec,
        counts=tuple(counts.items()),
    )


def read_pool_sentiment(spec: str, *, normalize: bool = True) -> Examples:
    """Sentiment examples from the pool's 1–4 and 9–10 star reviews, balanced (see above)."""
    path, held_out = split_spec(spec)
    df, counts = _read(path, normalize=normalize)
    part = df.filter(pl.col("held_out") == held_out)
    neg = part.filter(pl.col("rating") <= NEGATIVE_MAX).with_columns(pl.lit(0).alias("label"))
    pos = part.filter(pl.col("rating") >= POSITIVE_MIN).with_columns(pl.lit(1).alias("label"))
    # Every row of the smaller class, a seeded sample of as many of the larger one (on the
    # real pool: every negative, 19,788 of 252,238 positives). One draw from the seed, on the
    # larger class only: the rows stay those the shipped training run was keyed on.
    n = min(neg.height, pos.height)
    rng = np.random.default_rng(BALANCE_SEED)
    if neg.height <= pos.height:
        neg_kept, pos_kept = neg, pos[np.sort(rng.choice(pos.height, size=n, replace=False))]
    else:
        neg_kept, pos_kept = neg[np.sort(rng.choice(neg.height, size=n, replace=False))], pos
    both = pl.concat([neg_kept, pos_kept]).sort("id")
    counts.update(
        {
            "negatives_available": neg.height,
            "negatives_kept": n,
            "positives_available": pos.height,
            "positives_kept": n,
            "rows": both.height,
        }
    )
    return Examples(
        "sentiment",
        tuple(both["document"].to_list()),
        both["label"].to_numpy().astype(np.int64),
        source=f"{spec} (stars <= {NEGATIVE_MAX} / >= {POSITIVE_MIN}, balanced)",
        counts=tuple(counts.items()),
    )
