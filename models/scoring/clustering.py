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


def neighbours(
    emb: np.ndarray, threshold: float, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the rows at cosine >= threshold (itself included), by chunked matmul, as
    CSR arrays ``(indptr, indices)``: row i's neighbours are ``indices[indptr[i]:indptr[i+1]]``,
    ascending. One array for all rows instead of one per row (a Python object per review was
    most of the cost on small titles)."""
    counts: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    for start in range(0, len(emb), chunk):
        hits = (emb[start : start + chunk] @ emb.T) >= threshold
        counts.append(hits.sum(axis=1))
        cols.append(np.nonzero(hits)[1])
    indptr = np.zeros(len(emb) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(counts), out=indptr[1:])
    return indptr, np.concatenate(cols)


def cluster_embeddings(
    embeddings: np.ndarray, threshold: float, min_size: int = 2, chunk: int = 2048
) -> Clusters:
    """Cluster L2-normalisable ``embeddings`` (n × d); clusters smaller than ``min_size`` are
    left unclustered."""
    n = len(embeddings)
    if n == 0:
        return Clusters(np.full(0, UNCLUSTERED, dtype=np.int32), (), ())
    emb = normalize_rows(embeddings)
    indptr, indices = neighbours(emb, threshold, chunk)
    # Founders by neighbour count, ties by index: deterministic (a stable sort).
    order = np.argsort(-np.diff(indptr), kind="stable").tolist()
    assigned = np.zeros(n, dtype=bool)
    groups: list[np.ndarray] = []
    for i in order:  # per-founder loop: each step depends on what earlier steps assigned
        if indptr[i + 1] - indptr[i] < min_size:
            break  # founders come by neighbour count: no later one can found a cluster
        if assigned[i]:
            continue
        neigh = indices[indptr[i] : indptr[i + 1]]
        members = neigh[~assigned[neigh]]
        if len(members) < min_size:
            continue
        assigned[members] = True
        groups.append(members)
    return from_groups(emb, groups)


def from_groups(emb: np.ndarray, groups: list[np.ndarray]) -> Clusters:
    """Clusters from the founders' member groups of unit rows ``emb``: ids by size, largest
    first (ties: the lowest member first), each with its most central member."""
    labels = np.full(len(emb), UNCLUSTERED, dtype=np.int32)
    groups = sorted(groups, key=lambda g: (-len(g), int(g.min())))
    reps = []
    for cid, members in enumerate(groups):
        labels[members] = cid
        reps.append(representative(emb, members))
    return Clusters(labels, tuple(len(g) for g in groups), tuple(reps))
