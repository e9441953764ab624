"""Issue 20: clusters kept up to date incrementally, keywords from terms stored once per review.

The full clustering (models/scoring/clustering.py) is the reference; these tests show that
assigning a title's new reviews agrees with it, that the rules send a title back to a full
clustering, and that keywords from the stored terms are those the texts give.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from core.catalog import open_writer
from core.warehouse import Warehouse
from models.config import ScoringConfig
from models.scoring import clustering, recluster
from models.scoring.clustering import UNCLUSTERED, cluster_embeddings
from models.scoring.incremental import FullState, RefreshRules, assign, drifted, needs_full
from models.scoring.terms import terms_version
from tests.models.test_score import add_reviews, corpus, make_cfg, q, run_score

RULES = RefreshRules(new_share=0.2, unclustered_growth=0.1)
THRESHOLD = 0.85


def structured(n: int, seed: int, dim: int = 64, centres: int = 12) -> np.ndarray:
    """Unit vectors around a few centres, as reviews of one title that say similar things."""
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    which = rng.integers(0, centres, n)
    noise = rng.normal(scale=0.4 / np.sqrt(dim), size=(n, dim))
    v = c[which] / np.linalg.norm(c[which], axis=1, keepdims=True) + noise
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def membership_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Share of reviews whose cluster in ``a`` maps to their cluster in ``b``, clusters matched
    by largest overlap (unclustered matches unclustered)."""
    mapping = {UNCLUSTERED: UNCLUSTERED}
    for k in np.unique(a[a != UNCLUSTERED]):
        found, counts = np.unique(b[a == k], return_counts=True)
        mapping[int(k)] = int(found[np.argmax(counts)])
    return float(np.mean([mapping[int(x)] == int(y) for x, y in zip(a, b, strict=True)]))


def test_a_title_gaining_one_percent_agrees_with_full_clustering() -> None:
    emb = structured(2000, seed=1)
    old, new = np.arange(1980), np.arange(1980, 2000)  # 1% new reviews
    before = cluster_embeddings(emb[old], THRESHOLD)
    labels = np.concatenate([before.labels, np.full(len(new), UNCLUSTERED, np.int32)])
    incremental = assign(emb, labels, new, THRESHOLD)
    full = cluster_embeddings(emb, THRESHOLD)
    agreement = membership_agreement(incremental.labels[old], full.labels[old])
    assert agreement >= 0.95
    # the new reviews joined clusters (they come from the same centres), and sizes and
    # representatives follow the members
    assert np.sum(incremental.labels[new] != UNCLUSTERED) >= 18
    assert list(incremental.sizes) == sorted(incremental.sizes, reverse=True)
    for cid, rep in enumerate(incremental.representatives):
        assert incremental.labels[rep] == cid
        assert incremental.sizes[cid] == int(np.sum(incremental.labels == cid))


def test_a_new_review_far_from_every_cluster_stays_unclustered() -> None:
    emb = structured(200, seed=2)
    labels = cluster_embeddings(emb, THRESHOLD).labels
    odd = np.random.default_rng(9).normal(size=(1, emb.shape[1])).astype(np.float32)
    grown = np.vstack([emb, odd])
    out = assign(grown, np.append(labels, UNCLUSTERED), np.array([200]), THRESHOLD)
    assert out.labels[200] == UNCLUSTERED
    assert membership_agreement(labels, out.labels[:200]) == 1.0


def test_representative_is_the_full_methods_most_central_member() -> None:
    emb = structured(300, seed=3)
    res = cluster_embeddings(emb, THRESHOLD)
    for cid, rep in enumerate(res.representatives):
        members = np.flatnonzero(res.labels == cid)
        sub = emb[members] / np.linalg.norm(emb[members], axis=1, keepdims=True)
        centrality = (sub @ sub.T).mean(axis=1)  # the (m × m) way it was computed before
        # the same member, up to float rounding among near-equal candidates
        assert centrality[members.tolist().index(rep)] == pytest.approx(centrality.max(), abs=1e-6)


def test_rules_send_a_title_back_to_full_clustering() -> None:
    assert needs_full(None, 1, RULES) == "first clustering at this model version"
    state = FullState(n_reviews=100, unclustered_share=0.3, n_added=15)
    assert needs_full(state, 5, RULES) is None  # 20 of 100: at the bound, not past it
    assert needs_full(state, 6, RULES) == "new reviews exceed 20% of those clustered"
    labels = np.array([0] * 60 + [UNCLUSTERED] * 40)  # 40% unclustered: +10 points
    assert not drifted(state, labels, RULES)
    assert drifted(state, np.array([0] * 59 + [UNCLUSTERED] * 41), RULES)


def _rows(emb: np.ndarray, labels: list[int | None]) -> recluster.TitleRows:
    blobs = [v.astype(np.float16).tobytes() for v in emb]
    tuples = [(f"k{i}", b, lab) for i, (b, lab) in enumerate(zip(blobs, labels, strict=True))]
    return recluster.TitleRows.from_tuples(tuples)


def test_update_title_assigns_or_reclusters_by_the_rules() -> None:
    cfg = ScoringConfig(cluster_threshold=THRESHOLD)
    emb = structured(500, seed=4)
    first = cluster_embeddings(emb[:450], THRESHOLD).labels.tolist()
    full_at = datetime.now(UTC) - timedelta(days=1)
    unclustered = float(np.mean(np.array(first) == UNCLUSTERED))
    # 10 new reviews on 450: assigned, the old memberships kept, the count of added grows
    rows = _rows(emb[:460], [*first, *[None] * 10])
    stats = recluster.ReclusterStats()
    prior = (FullState(450, unclustered, 0), full_at)
    out = recluster.update_title("t", rows, prior, cfg, stats)
    assert not out.full and stats.assigned_titles == 1 and stats.full_titles == 0
    assert out.state == FullState(450, unclustered, 10) and out.full_at == full_at
    assert membership_agreement(np.array(first), out.result.labels[:450]) == 1.0
    # 50 new reviews on 450 (past 20% with the 45 already added): from scratch
    rows = _rows(emb, [*first, *[None] * 50])
    stats = recluster.ReclusterStats()
    out = recluster.update_title("t", rows, (FullState(450, unclustered, 45), full_at), cfg, stats)
    assert out.full and stats.full_titles == 1 and out.full_at is None
    assert out.state is not None and out.state.n_reviews == 500 and out.state.n_added == 0
    assert stats.why_full == {"new reviews exceed 20% of those clustered": 1}
    # no state at this model version (a new similarity model): from scratch
    stats = recluster.ReclusterStats()
    out = recluster.update_title("t", _rows(emb[:460], [*first, *[None] * 10]), None, cfg, stats)
    assert out.full and stats.why_full == {"first clustering at this model version": 1}
    # the unclustered share grew: reviews unlike any cluster arrive (under 20% of them)
    odd = np.random.default_rng(5).normal(size=(80, emb.shape[1])).astype(np.float32)
    rows = _rows(np.vstack([emb[:450], odd]), [*first, *[None] * 80])
    stats = recluster.ReclusterStats()
    out = recluster.update_title("t", rows, (FullState(450, unclustered, 0), full_at), cfg, stats)
    assert out.full
    assert stats.why_full == {"unclustered share grew by more than 10%": 1}


@pytest.fixture
def scored(tmp_path: Path, trained: Path):
    cfg = make_cfg(tmp_path, trained, **{"scoring.cluster_threshold": 0.5})
    same = "최고 명작 강추 영화 배우 연기"
    add_reviews(cfg, "a", [(f"d{i}", "dup", same) for i in range(4)] + corpus(60))
    run_score(cfg)
    return cfg


def test_keywords_from_stored_terms_are_those_the_texts_give(scored) -> None:
    stored = q(scored, "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL")
    assert any(r[-1] for r in stored)  # some cluster has keywords
    assert q(scored, "SELECT count(*) FROM review_terms") == [(64,)]
    wh = Warehouse(scored.warehouse.root)
    with open_writer(wh) as con:
        version = con.execute("SELECT DISTINCT similarity_version FROM clusters").fetchall()[0][0]
        titles = [r[0] for r in con.execute("SELECT DISTINCT title_id FROM reviews").fetchall()]
        stats = recluster.recluster(con, titles, version, scored.scoring, "ref", reference=True)
    assert stats.full_titles == len(titles)
    reference = q(scored, "SELECT * EXCLUDE (computed_at, run_id) FROM clusters ORDER BY ALL")
    assert reference == stored


def test_pending_keywords_show_as_none_and_the_next_recluster_fills_them(scored) -> None:
    # What a run killed between its title batches and the keywords fill leaves behind.
    filled = q(scored, "SELECT title_id, cluster_id, keywords FROM clusters ORDER BY ALL")
    assert any(kw for *_, kw in filled)
    wh = Warehouse(scored.warehouse.root)
    with open_writer(wh) as con:
        con.execute("UPDATE clusters SET keywords = NULL")
        shown = con.execute("SELECT DISTINCT keywords FROM title_clusters").fetchall()
        version = con.execute("SELECT DISTINCT similarity_version FROM clusters").fetchall()[0][0]
        stats = recluster.recluster(con, [], version, scored.scoring, "next")
    assert shown == [([],)]  # the view's keywords stay a list: none yet
    assert stats.titles == 0  # no title is stale; the keywords are filled all the same
    assert q(scored, "SELECT title_id, cluster_id, keywords FROM clusters ORDER BY ALL") == filled


def test_an_edited_review_gets_new_terms_and_joins_clusters_incrementally(scored) -> None:
    before = q(
        scored,
        "SELECT terms FROM review_terms JOIN reviews USING (review_key) WHERE review_id = 'd0'",
    )
    assert before and "배우" in before[0][0]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    from tests.etl.rawdata import record, write_raw

    wh = Warehouse(scored.warehouse.root)
    write_raw(
        wh.raw_dir,
        "edit",
        [
            record(
                "d0",
                "감독 각본 음악 최고",
                title_id="dup",
                scraped_at=datetime.fromisoformat(later),
            )
        ],
    )
    from etl import clean
    from jobs.runner import Run

    with Run(scored, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)
    res = run_score(scored)
    after = q(
        scored,
        "SELECT terms, terms_version FROM review_terms JOIN reviews "
        "USING (review_key) WHERE review_id = 'd0'",
    )
    assert len(after) == 1 and after[0][1] == terms_version()
    assert "감독" in after[0][0] and "배우" not in after[0][0]
    assert res.details["terms_extracted"] == 1  # only the edited review is analysed
    # one review changed on a title of four: 25% > 20%, so it is clustered from scratch
    assert res.details["titles_reclustered"] == 1 and res.details["titles_full"] == 1


def test_a_review_added_to_a_big_title_is_assigned_not_reclustered(scored) -> None:
    add_reviews(scored, "b", [("new1", "t0", "최고 명작 강추 영화 배우 연기 좋아요")])
    res = run_score(scored)
    assert res.details["titles_reclustered"] == 1
    assert res.details["titles_assigned"] == 1 and res.details["titles_full"] == 0
    state = q(
        scored, "SELECT full_reviews, added_since_full FROM cluster_state WHERE title_id = 't0'"
    )
    assert state == [(20, 1)]


@pytest.mark.parametrize(("threshold", "min_size", "chunk"), [(0.85, 2, 2048), (0.8, 3, 7)])
def test_full_clustering_is_the_pre_issue_method(
    threshold: float, min_size: int, chunk: int
) -> None:
    """The CSR neighbours give exactly the clusters the per-review neighbour lists gave."""
    from models.scoring.clustering_reference import cluster_embeddings_reference

    for seed in range(3):
        emb = structured(300, seed)
        new = cluster_embeddings(emb, threshold, min_size, chunk)
        old = cluster_embeddings_reference(emb, threshold, min_size, chunk)
        np.testing.assert_array_equal(new.labels, old.labels)
        assert new.sizes == old.sizes and new.representatives == old.representatives
        assert len(new.sizes) > 1
    # clusters of exactly min_size (pairs of near-copies, the last founders to count)
    pairs = np.repeat(np.eye(8, 16), 2, axis=0) + 0.01 * structured(16, 9, dim=16)
    new = cluster_embeddings(pairs, threshold, 2, chunk)
    assert new.sizes == (2,) * 8
    np.testing.assert_array_equal(
        new.labels, cluster_embeddings_reference(pairs, threshold, 2, chunk).labels
    )


@pytest.mark.parametrize("stack_floats", [None, 1])  # the default; one title per stack
def test_titles_clustered_together_get_what_each_gets_alone_and_the_pre_issue_method(
    stack_floats: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cluster_titles stacks titles of like size (zero-padded) into one product; each title's
    clusters, sizes and representatives are exactly those of the pre-issue code on it alone:
    titles of every size class, a title too large to stack, one with no reviews, one whose
    reviews are all far apart (no cluster), float16 input as stored; in one stack per size and
    with one title per stack."""
    from models.scoring.clustering import STACK_ROWS, cluster_titles
    from models.scoring.clustering_reference import cluster_embeddings_reference

    if stack_floats:
        monkeypatch.setattr(clustering, "STACK_FLOATS", stack_floats)

    sizes = [1, 2, 5, 7, 8, 9, 17, 34, 34, 60, 98, STACK_ROWS, STACK_ROWS + 44]
    titles = [structured(n, seed, dim=48).astype(np.float16) for seed, n in enumerate(sizes)]
    titles += [np.zeros((0, 48), np.float16), np.eye(12, 48, dtype=np.float16)]
    # pairs of near-copies: every cluster a pair, whose two members are equally central but
    # for rounding (the representative must be the one the old code picked)
    titles.append(
        (np.repeat(np.eye(6, 48), 2, axis=0) + 0.01 * structured(12, 3, 48)).astype(np.float16)
    )
    together = cluster_titles(titles, 0.85, 2)
    assert len(together) == len(titles)
    for emb, got in zip(titles, together, strict=True):
        old = cluster_embeddings_reference(emb, 0.85, 2)
        np.testing.assert_array_equal(got.labels, old.labels)
        assert got.sizes == old.sizes and got.representatives == old.representatives
        alone = cluster_embeddings(emb, 0.85, 2)
        np.testing.assert_array_equal(alone.labels, got.labels)
        assert alone.representatives == got.representatives
    assert sum(len(c.sizes) for c in together) > 20
    assert together[-2].sizes == () and together[-1].sizes == (2,) * 6


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
def test_a_stack_built_where_an_earlier_one_was_is_padded_with_zeros(dtype: type) -> None:
    """Stacks reuse one buffer: a title padded in memory that held another title's rows must
    still be padded with zeros. Here the leftovers would be near-copies of p, which would make
    p (not q) the first founder of the chain p - q - r and leave r out of the cluster."""
    from models.scoring.clustering import cluster_titles

    p, r = np.eye(2, 48)
    q = (p + r) / np.sqrt(2)  # cosine 0.71 to p and to r; p and r are orthogonal
    near_p = (p - r / 2) / np.sqrt(1.25)  # cosine 0.89 to p, 0.32 to q
    titles = [np.tile(near_p, (16, 1)).astype(dtype), np.stack([p, q, r]).astype(dtype)]
    chain = cluster_titles(titles, 0.7, 2)[1]
    assert chain.sizes == (3,) and chain.representatives == (1,)


@pytest.mark.parametrize("commit_reviews", [1, 10**9])
def test_a_failed_recluster_keeps_what_it_committed_and_nothing_else(
    scored, commit_reviews: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read batches are committed together once they hold ``cluster_commit_reviews``
    reviews. A failure in the third batch keeps the two before it when each was committed,
    none when they shared the failed transaction, and leaves the connection usable."""
    cfg = scored.scoring.model_copy(
        update={"cluster_read_titles": 1, "cluster_commit_reviews": commit_reviews}
    )
    real, calls = recluster.update_titles, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(recluster, "update_titles", failing)
    with open_writer(Warehouse(scored.warehouse.root)) as con:
        version = con.execute("SELECT DISTINCT similarity_version FROM clusters").fetchall()[0][0]
        titles = [
            r[0] for r in con.execute("SELECT DISTINCT title_id FROM reviews ORDER BY 1").fetchall()
        ]
        assert len(titles) >= 3
        for table in ("cluster_members", "clusters", "cluster_state"):
            con.execute(f"DELETE FROM {table}")
        with pytest.raises(RuntimeError, match="killed"):
            recluster.recluster(con, titles, version, cfg, "killed")
        kept = con.execute("SELECT title_id FROM cluster_state ORDER BY 1").fetchall()
        assert [t for (t,) in kept] == (titles[:2] if commit_reviews == 1 else [])
        monkeypatch.setattr(recluster, "update_titles", real)
        recluster.recluster(con, titles, version, cfg, "again")  # no transaction left open
    assert q(scored, "SELECT count(DISTINCT title_id) FROM cluster_state") == [(len(titles),)]


def test_reclustering_runs_its_math_on_one_thread_and_gives_the_threads_back(
    scored, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Titles are clustered with torch and NumPy's BLAS on one thread (small products; the read
    ahead needs the other core), and the caller's thread counts come back after, also when the
    recluster fails."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads() -> set[int]:
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    real, seen = recluster.update_titles, []

    def watched(*args, **kwargs):
        seen.append((torch.get_num_threads(), blas_threads()))
        if len(seen) == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(recluster, "update_titles", watched)
    cfg = scored.scoring.model_copy(update={"cluster_read_titles": 1})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with (
            threadpool_limits(limits=2, user_api="blas"),
            open_writer(Warehouse(scored.warehouse.root)) as con,
        ):
            version = con.execute("SELECT DISTINCT similarity_version FROM clusters").fetchall()
            titles = [r[0] for r in con.execute("SELECT DISTINCT title_id FROM reviews").fetchall()]
            con.execute("DELETE FROM cluster_state")
            with pytest.raises(RuntimeError, match="killed"):
                recluster.recluster(con, titles, version[0][0], cfg, "one-thread")
            assert torch.get_num_threads() == 2 and blas_threads() == {2}
        assert seen == [(1, {1}), (1, {1})]
    finally:
        torch.set_num_threads(before)
