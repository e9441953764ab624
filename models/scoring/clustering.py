"""Similarity clusters of one title's review embeddings.

Method: threshold community detection (as in sentence-transformers' ``community_detection``):
every review's neighbours are the reviews at cosine >= threshold; the review with the most
neighbours founds a cluster with its still-unassigned neighbours, and so on. It needs no preset
number of clusters, is deterministic, and works on any title size with memory bounded by the
chunk size (the similarity matrix is never held whole for large titles).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

UNCLUSTERED = -1


@dataclass(frozen=True)
class Clusters:
    labels: np.ndarray  # cluster id per review, 0 = largest, UNCLUSTERED for the rest
    sizes: tuple[int, ...]  # per cluster id
    representatives: tuple[int, ...]  # index of the most central member, per cluster id


def normalize_rows(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32), so dot products are cosines."""
    emb = emb.astype(np.float32, copy=False)
    norms = np.linalg.norm(emb, axis=1, keepdims=True)
    return emb / np.maximum(norms, 1e-12)


def representative(emb: np.ndarray, members: np.ndarray) -> int:
    """The most central member: the largest mean cosine to the members (itself included).
    That mean is the dot product with the mean of the members' unit vectors, so the (m × m)
    similarity matrix is never formed: O(m·d), not O(m²·d)."""
    sub = emb[members]
    return int(members[int(np.argmax(sub @ sub.mean(axis=0)))])


def neighbour_lists(emb: np.ndarray, threshold: float, chunk: int = 2048) -> list[np.ndarray]:
    """For each row, the rows at cosine >= threshold (itself included), by chunked matmul."""
    out: list[np.ndarray] = []
    for start in range(0, len(emb), chunk):
        sims = emb[start : start + chunk] @ emb.T
        out.extend(np.flatnonzero(row >= threshold) for row in sims)
    return out


def cluster_embeddings(
    embeddings: np.ndarray, threshold: float, min_size: int = 2, chunk: int = 2048
) -> Clusters:
    """Cluster L2-normalisable ``embeddings`` (n × d); clusters smaller than ``min_size`` are
    left unclustered."""
    n = len(embeddings)
    labels = np.full(n, UNCLUSTERED, dtype=np.int32)
    if n == 0:
        return Clusters(labels, (), ())
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
    groups.sort(key=lambda g: (-len(g), int(g.min())))
    reps = []
    for cid, members in enumerate(groups):
        labels[members] = cid
        reps.append(representative(emb, members))
    return Clusters(labels, tuple(len(g) for g in groups), tuple(reps))
