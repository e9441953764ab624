"""`kreview score --device cuda` writes the rows a CPU run writes (issue 20, part 6).

One small warehouse (a tiny joint model; three titles, each with groups of identical reviews
that must cluster and distinct ones that must not) is copied after the clean stage. One copy
is scored by ``kreview score --device cpu --precision fp32``, the other by ``kreview score
--device cuda`` (autocast), each in its own process, as a user runs them. Then:

- ``scores``, ``embeddings`` and ``cluster_members`` hold exactly the same (review_key,
  versions) rows in both;
- the same sentiment label (except where the CPU's p_positive is within P_TOL of 0.5: there the
  tolerance itself allows a flip), p_positive and every emotion intensity within 0.02, the
  stored (float16) embeddings at cosine >= 0.995;
- the same clusters: each title's reviews grouped the same way (cluster ids may differ).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from core.catalog import open_reader
from core.warehouse import Warehouse
from etl import clean
from etl.raw_schema import review_key
from jobs.config import load_config
from jobs.runner import Run
from models.scoring.recluster import blobs_to_float32
from tests.conftest import kreview_cli
from tests.etl.rawdata import record, write_raw
from tests.gpu.compare import cosines
from tests.gpu.marks import GPU
from tests.models.tiny_tasks import FILLER, NEGATIVE, POSITIVE

pytestmark = GPU

P_TOL = 0.02
EMOTION_TOL = 0.02
MIN_COSINE = 0.995
# Identical texts sit at cosine ~1 (1 - 1e-6 under bf16 on a CPU), distinct texts of the tiny
# model below 0.9985 (the largest of 40k pairs: 0.998); the test checks that margin on the CPU
# run, so a cluster that flips at the threshold cannot pass for noise or hide a bug.
CLUSTER_THRESHOLD = 0.999
MARGIN = 0.0005


def corpus(seed: int = 0) -> list[tuple[str, str, str]]:
    """(review_id, title_id, text): per title 4 groups of 3 identical texts and 20 distinct
    texts, every text made of 2-6 of the tiny vocabulary's words and none repeated across."""
    rng = np.random.default_rng(seed)
    words = np.array(POSITIVE + NEGATIVE + FILLER)
    texts: list[str] = []
    while len(texts) < 3 * 24:
        text = " ".join(rng.choice(words, int(rng.integers(2, 7)), replace=False))
        if text not in texts:
            texts.append(text)
    items = []
    for t in range(3):
        mine = texts[24 * t : 24 * (t + 1)]
        for g in range(4):
            items += [(f"t{t}-g{g}-{k}", f"t{t}", mine[g]) for k in range(3)]
        items += [(f"t{t}-d{i}", f"t{t}", text) for i, text in enumerate(mine[4:])]
    return items


def identical_groups() -> list[frozenset[str]]:
    """The review keys of each group of identical texts."""
    out: dict[str, set[str]] = {}
    for rid, _, _ in corpus():
        if "-g" in rid:
            out.setdefault(rid.rsplit("-", 1)[0], set()).add(review_key("naver", rid))
    return [frozenset(v) for v in out.values()]


def cleaned_warehouse(root: Path, models_dir: Path) -> Path:
    """A warehouse at ``root``: the tiny model current, the corpus cleaned, nothing scored."""
    shutil.copytree(models_dir, root / "models")
    cfg = load_config(env={}, overrides={"warehouse.root": root})
    wh = Warehouse(root).ensure()
    write_raw(wh.raw_dir, "a", [record(rid, text, title_id=tid) for rid, tid, text in corpus()])
    with Run(cfg, "clean", show_progress=False) as run:
        run.stage("clean", clean.run)
    return root


def score(root: Path, *args: str) -> None:
    res = kreview_cli(
        root,
        "--quiet",
        "score",
        *args,
        timeout=300,
        KREVIEW_SCORING__CLUSTER_THRESHOLD=str(CLUSTER_THRESHOLD),
    )
    assert res.returncode == 0, res.stdout + res.stderr


def rows(root: Path, sql: str) -> list[tuple]:
    with open_reader(Warehouse(root)) as con:
        return con.execute(sql).fetchall()


def tables(root: Path) -> dict[str, list[tuple]]:
    return {
        "scores": rows(
            root,
            "SELECT review_key, sentiment_version, emotion_version, sentiment, p_positive,"
            " emotions FROM scores ORDER BY review_key",
        ),
        "embeddings": rows(
            root,
            "SELECT review_key, similarity_version, dim, vector FROM embeddings"
            " ORDER BY review_key",
        ),
        "cluster_members": rows(
            root,
            "SELECT review_key, similarity_version, title_id, cluster_id FROM cluster_members"
            " ORDER BY review_key",
        ),
    }


def groups(members: list[tuple]) -> set[frozenset[str]]:
    """The clusters as sets of review keys (ids are only labels; -1 marks an unclustered
    review, and with the same member rows on both sides the same clusters mean the same
    unclustered reviews)."""
    out: dict[tuple, set[str]] = {}
    for key, version, title, cluster in members:
        if cluster >= 0:
            out.setdefault((version, title, cluster), set()).add(key)
    return {frozenset(v) for v in out.values()}


def compare(cpu: dict[str, list[tuple]], other: dict[str, list[tuple]]) -> dict[str, float]:
    """Assert ``other`` holds the rows of ``cpu`` within the tolerances; the figures."""
    for table, key_cols in (("scores", 3), ("embeddings", 2), ("cluster_members", 2)):
        assert [r[:key_cols] for r in other[table]] == [r[:key_cols] for r in cpu[table]], table
    s_cpu, s_other = cpu["scores"], other["scores"]
    assert s_cpu, "nothing was scored"
    p_cpu = np.array([r[4] for r in s_cpu], dtype=np.float64)
    p_other = np.array([r[4] for r in s_other], dtype=np.float64)
    label_cpu = np.array([r[3] for r in s_cpu])
    label_other = np.array([r[3] for r in s_other])
    flips = (label_cpu != label_other) & (np.abs(p_cpu - 0.5) > P_TOL)
    assert not flips.any(), [s_cpu[i][0] for i in np.flatnonzero(flips)]
    d_p = float(np.abs(p_cpu - p_other).max())
    d_emo = float(
        np.abs(
            np.array([r[5] for r in s_cpu], dtype=np.float64)
            - np.array([r[5] for r in s_other], dtype=np.float64)
        ).max()
    )
    assert d_p <= P_TOL and d_emo <= EMOTION_TOL, (d_p, d_emo)
    e_cpu, e_other = cpu["embeddings"], other["embeddings"]
    dim = e_cpu[0][2]
    assert {r[2] for r in e_cpu} == {r[2] for r in e_other} == {dim}
    cos = cosines(
        blobs_to_float32([r[3] for r in e_cpu], dim),
        blobs_to_float32([r[3] for r in e_other], dim),
    )
    assert cos.min() >= MIN_COSINE, float(cos.min())
    assert groups(other["cluster_members"]) == groups(cpu["cluster_members"])
    return {
        "reviews": len(s_cpu),
        "label_agreement": float((label_cpu == label_other).mean()),
        "max_p": d_p,
        "max_emotion": d_emo,
        "min_cosine": float(cos.min()),
        "clusters": len(groups(cpu["cluster_members"])),
    }


def threshold_margin(root: Path) -> float:
    """The smallest |cosine - CLUSTER_THRESHOLD| over pairs of reviews of one title (CPU)."""
    pairs = rows(
        root,
        "SELECT r.title_id, e.dim, e.vector FROM embeddings e JOIN reviews r USING (review_key)",
    )
    margin = 1.0
    for title in {t for t, _, _ in pairs}:
        dim = next(d for t, d, _ in pairs if t == title)
        vec = blobs_to_float32([v for t, _, v in pairs if t == title], dim)
        vec = vec / np.linalg.norm(vec, axis=1, keepdims=True)
        sim = vec @ vec.T
        off = sim[~np.eye(len(vec), dtype=bool)]
        margin = min(margin, float(np.abs(off - CLUSTER_THRESHOLD).min()))
    return margin


def test_score_device_cuda_writes_the_rows_of_a_cpu_run(
    tmp_path: Path, tiny_models_dir: Path
) -> None:
    cpu_root = cleaned_warehouse(tmp_path / "cpu" / "wh", tiny_models_dir)
    cuda_root = tmp_path / "cuda" / "wh"
    shutil.copytree(cpu_root, cuda_root)
    score(cpu_root, "--device", "cpu", "--precision", "fp32")
    score(cuda_root, "--device", "cuda")
    margin = threshold_margin(cpu_root)
    assert margin >= MARGIN, f"the test's corpus sits {margin:.2e} from the cluster threshold"
    cpu, cuda = tables(cpu_root), tables(cuda_root)
    figures = compare(cpu, cuda)
    # the groups of identical texts clustered (each inside one cluster), on both sides alike
    clusters = groups(cpu["cluster_members"])
    for group in identical_groups():
        assert any(group <= c for c in clusters), sorted(group)
    print(
        f"gpu-check: kreview score --device cuda vs --device cpu (fp32), tiny model:"
        f" {figures['reviews']} reviews, same rows in scores / embeddings / cluster_members,"
        f" labels agree {figures['label_agreement']:.4f}, max |d p_positive|"
        f" {figures['max_p']:.4f}, max |d emotion| {figures['max_emotion']:.4f}, embedding"
        f" cosine min {figures['min_cosine']:.5f}, the same {figures['clusters']} clusters"
    )
