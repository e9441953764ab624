"""The pool of rated reviews as training data: split by title, no NSMC-test leaks, loud errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.data import DataError, default_eval_path, read_data
from models.heads import RatingHead, rating_mean, rating_median
from models.pool import is_held_out_title, read_pool_ratings, read_pool_sentiment
from tests.models.tiny_tasks import write_nsmc, write_pool


def layout(tmp_path: Path, n: int = 400) -> Path:
    """../shared/data's layout: unlabeled/<pool> with nsmc/ratings_test.txt beside it."""
    (tmp_path / "nsmc").mkdir()
    write_nsmc(tmp_path / "nsmc" / "ratings_test.txt", 20, 100)
    return write_pool(tmp_path / "unlabeled" / "nsmc_raw_pool.tsv.gz", n, 3)


def pool_frame(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, separator="\t", quote_char=None, schema_overrides={"date": pl.Utf8})


def test_split_is_by_title_and_both_sides_partition_the_pool(tmp_path: Path) -> None:
    pool = layout(tmp_path)
    train = read_pool_ratings(str(pool))
    held_spec = default_eval_path("rating", str(pool))
    assert held_spec == f"{pool}#held-out"
    held = read_data("rating", str(held_spec))
    assert len(train) + len(held) == 400 and len(held) > 0
    raw = pool_frame(pool).with_columns(pl.col("document").str.strip_chars())
    movie_of = dict(zip(raw["document"], raw["movie_id"], strict=True))
    train_titles = {movie_of[t] for t in train.texts}
    held_titles = {movie_of[t] for t in held.texts}
    assert not train_titles & held_titles  # no title on both sides
    assert all(is_held_out_title(m) for m in held_titles)
    assert set(np.unique(train.labels)) <= set(range(1, 11))
    # the rule is pinned: the shipped split (and every training run keyed on it) depends on it
    assert [m for m in range(1, 100) if is_held_out_title(m)] == [4, 33, 43, 80, 99]


def test_rows_equal_to_an_nsmc_test_text_are_dropped_and_counted(tmp_path: Path) -> None:
    pool = layout(tmp_path)
    test_text = (tmp_path / "nsmc" / "ratings_test.txt").read_text("utf-8").splitlines()[1]
    leaked = test_text.split("\t")[1]
    lines = gzip.decompress(pool.read_bytes()).decode().splitlines()
    # two pool rows (one per side of the split would be ideal; any rows do) carry a test text,
    # one of them with extra laughter that normalization collapses (ㅋㅋㅋㅋ -> ㅋㅋ)
    cols = lines[1].split("\t")
    lines[1] = "\t".join([*cols[:4], leaked])
    cols = lines[2].split("\t")
    lines[2] = "\t".join([*cols[:4], leaked.replace("ㅋㅋ", "ㅋㅋㅋㅋ") + ""])
    pool.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    ex = read_pool_ratings(str(pool))
    counts = dict(ex.counts)
    assert counts["pool_rows_equal_to_nsmc_test"] == 2
    assert leaked not in ex.texts
    held = read_pool_ratings(f"{pool}#held-out")
    assert len(ex) + len(held) == 398


def test_sentiment_rows_are_thresholded_and_balanced(tmp_path: Path) -> None:
    pool = layout(tmp_path, 600)
    ex = read_pool_sentiment(str(pool))
    counts = dict(ex.counts)
    n = min(counts["negatives_available"], counts["positives_available"])
    assert counts["negatives_kept"] == counts["positives_kept"] == n > 0
    assert int((ex.labels == 0).sum()) == int((ex.labels == 1).sum()) == n
    assert len(ex) == 2 * n
    # a sentiment spec naming the pool reads it this way (NSMC files stay NSMC)
    assert read_data("sentiment", str(pool)).texts == ex.texts
    # only training titles: no text of the held-out side
    held = set(read_pool_ratings(f"{pool}#held-out").texts)
    assert not held & set(ex.texts)


def test_a_rating_off_the_1_to_10_scale_fails_loudly(tmp_path: Path) -> None:
    pool = layout(tmp_path)
    lines = gzip.decompress(pool.read_bytes()).decode().splitlines()
    cols = lines[5].split("\t")
    lines[5] = "\t".join([cols[0], cols[1], "0", *cols[3:]])
    pool.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    with pytest.raises(DataError, match="1 rows have a rating outside 1-10 stars"):
        read_pool_ratings(str(pool))


def test_without_nsmc_test_beside_it_the_pool_is_refused(tmp_path: Path) -> None:
    pool = write_pool(tmp_path / "unlabeled" / "nsmc_raw_pool.tsv.gz", 50, 3)
    with pytest.raises(DataError, match="NSMC test not found"):
        read_pool_ratings(str(pool))


def test_rating_head_reads_median_and_mean_of_its_distribution() -> None:
    import torch

    dist = np.zeros((3, 10), dtype=np.float32)
    dist[0, 9] = 1.0  # certain of 10 stars
    dist[1, [0, 9]] = 0.5  # split between 1 and 10: median 1 (first star where cdf >= 0.5)
    dist[2, [6, 7, 8]] = [0.2, 0.5, 0.3]  # median 8, mean 8.1
    assert rating_median(dist).tolist() == [10.0, 1.0, 8.0]
    assert rating_mean(dist) == pytest.approx([10.0, 5.5, 8.1])
    head = RatingHead(4, 0.0)
    logits = torch.zeros(2, 10)
    logits[0, 2] = logits[1, 7] = 20.0
    loss = head.loss(logits, torch.tensor([3.0, 8.0]))  # stars, not class indices
    assert float(loss) < 1e-6
    assert float(head.loss(logits, torch.tensor([8.0, 3.0]))) > 10
