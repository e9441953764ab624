"""Issue 20: reclustering reads embeddings in batches bounded by titles and by reviews, as Arrow
columns; what it reads is what the reference read (one tuple per review) gives."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from core.catalog import open_writer
from core.warehouse import Warehouse
from models.scoring import recluster
from models.scoring.scratch import Scratch
from tests.models.test_score import add_reviews, corpus, make_cfg, run_score


def test_batches_respect_both_bounds_and_keep_every_title_once() -> None:
    counts = [("a", 5), ("b", 5), ("c", 30), ("d", 1), ("e", 1), ("f", 1), ("g", 0)]
    plan = recluster.plan_batches(counts, max_titles=2, max_reviews=10)
    assert plan == [["a", "b"], ["c"], ["d", "e"], ["f", "g"]]  # c is larger than the bound
    assert [t for b in plan for t in b] == [t for t, _ in counts]
    assert recluster.plan_batches(counts, 100, 100) == [[t for t, _ in counts]]
    assert recluster.plan_batches([], 10, 10) == []


def test_vectors_come_from_the_arrow_buffers_as_the_bytes_give_them() -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(7, 6)).astype(np.float16)
    blobs = [v.tobytes() for v in vecs]
    # two chunks, the second a slice (an offset into its buffers)
    column = pa.chunked_array([pa.array(blobs[:3]), pa.array([b"x" * 12, *blobs[3:]])[1:]])
    got = recluster.binary_to_float16(column)
    assert got.dtype == np.float16
    np.testing.assert_array_equal(got, vecs)
    np.testing.assert_array_equal(recluster.binary_to_float16(column[3:4]), vecs[3:4])
    # joined in a reused buffer: a smaller read after a larger one, then one that grows it
    scratch = Scratch(np.float16)
    np.testing.assert_array_equal(recluster.binary_to_float16(column, scratch), vecs)
    np.testing.assert_array_equal(recluster.binary_to_float16(column[1:5], scratch), vecs[1:5])
    twice = pa.chunked_array(column.chunks * 2)
    np.testing.assert_array_equal(
        recluster.binary_to_float16(twice, scratch), np.tile(vecs, (2, 1))
    )
    with pytest.raises(ValueError, match="different lengths"):
        recluster.binary_to_float16(pa.chunked_array([pa.array([b"ab", b"abcd"])]))


@pytest.mark.parametrize(("max_titles", "max_reviews"), [(1, 1000), (2, 30), (100, 1)])
def test_batched_arrow_reads_give_what_the_reference_read_gives(
    tmp_path: Path, trained: Path, max_titles: int, max_reviews: int
) -> None:
    cfg = make_cfg(tmp_path, trained)
    add_reviews(cfg, "a", corpus(60))
    run_score(cfg)
    with open_writer(Warehouse(cfg.warehouse.root)) as con:
        version = con.execute("SELECT DISTINCT similarity_version FROM embeddings").fetchall()
        version = version[0][0]
        # one review leaves its cluster on record (as an edited review does): it reads as new
        con.execute(
            "DELETE FROM cluster_members WHERE review_key = (SELECT min(review_key) FROM reviews)"
        )
        titles = ["t0", "t1", "t2", "no-such-title"]
        new = [b for b, _ in recluster.title_batches(con, titles, version, max_titles, max_reviews)]
        ref = [b for b, _ in recluster.title_batches_reference(con, titles, version, 1)]
        # a consumer that stops early (a failed write): the read ahead is waited for and its
        # cursor closed, no thread is left reading, and the connection reads on
        batches = recluster.title_batches(con, titles, version, 1, max_reviews)
        assert next(batches)[0][0][0] == "t0"
        batches.close()
        assert not [t for t in threading.enumerate() if t.name.startswith("recluster-read")]
        assert con.execute("SELECT count(*) FROM embeddings").fetchall()[0][0] > 0
    got = dict(t for b in new for t in b)
    want = dict(t for b in ref for t in b)
    assert list(got) == titles and len(new) > 1
    assert sum(len(r.new) for r in got.values()) == 1
    for title in titles:
        a, b = got[title], want[title]
        assert a.keys == b.keys
        np.testing.assert_array_equal(a.vectors, b.vectors)
        np.testing.assert_array_equal(a.prior, b.prior)
        np.testing.assert_array_equal(a.new, b.new)
    assert len(got["no-such-title"]) == 0
