"""The full clustering as the score stage ran it before issue 20, kept verbatim: one NumPy array
of neighbours per review. ``clustering.cluster_embeddings`` computes the same clusters (a test
holds them equal) with the neighbours as one CSR array; this copy is the timing baseline of
``recluster(reference=True)`` and bench/, so that they compare against the old cost, not the
new code under an old name.
"""

from __future__ import annotations

import numpy as np

from models.scoring.clustering import UNCLUSTERED, Clusters, from_groups, normalize_rows


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
    if n == 0:
        return Clusters(np.full(0, UNCLUSTERED, dtype=np.int32), (), ())
    emb = normalize_rows(embeddings)
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
    return from_groups(emb, groups)
