"""The full clustering as the score stage ran it before issue 20, kept verbatim (the code of
``clustering.py`` at 6746610^, renamed): one NumPy array of neighbours per review, founders
ordered by a Python sort, each cluster's representative from its (m × m) similarity matrix.
``clustering.cluster_titles`` computes the same clusters (a test holds them equal) at a fraction
of the cost; this copy is the timing baseline of ``recluster(reference=True)`` and bench/, so that
they compare against the old cost, not the new code under an old name. Nothing here may import
from the live clustering but its result type: a helper shared with it would let a speed-up of
the live path speed up the baseline too.
"""

from __future__ import annotations

import numpy as np

from models.scoring.clustering import UNCLUSTERED, Clusters


def _normalize(emb: np.ndarray) -> np.ndarray:
    emb = emb.astype(np.float32, copy=False)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def neighbour_lists(emb: np.ndarray, threshold: float, chunk: int = 2048) -> list[np.ndarray]:
    """For each row, the rows at cosine >= threshold (itself included), by chunked matmul."""
    out: list[np.ndarray] = []
    for start in range(0, len(emb), chunk):
        sims = emb[start : start + chunk] @ emb.T
        out.extend(np.flatnonzero(row >= threshold) for row in sims)
    return out


def cluster_embeddings_reference(
    embeddings: np.ndarray, threshold: float, min_size: int = 2, chunk: int = 2048
) -> Clusters:
    """``clustering.cluster_embeddings`` as it was: the same clusters, the old cost."""
    n = len(embeddings)
    labels = np.full(n, UNCLUSTERED, dtype=np.int32)
    if n == 0:
        return Clusters(labels, (), ())
    emb = _normalize(embeddings)
    neigh = neighbour_lists(emb, threshold, chunk)
    # Founders by neighbour count, ties by index: deterministic.
    order = sorted(range(n), key=lambda i: (-len(neigh[i]), i))
    assigned = np.zeros(n, dtype=bool)
    groups: list[np.ndarray] = []
    for i in order:  # per-founder loop: each step depends on what earlier steps assigned
        if assigned[i]:
            continue
        members = neigh[i][~assigned[neigh[i]]]
        if len(members) < min_size:
            continue
        assigned[members] = True
        groups.append(members)
    groups.sort(key=lambda g: (-len(g), int(g.min())))
    reps = []
    for cid, members in enumerate(groups):
        labels[members] = cid
        sub = emb[members]
        centrality = (sub @ sub.T).mean(axis=1)
        reps.append(int(members[int(np.argmax(centrality))]))
    return Clusters(labels, tuple(len(g) for g in groups), tuple(reps))
