"""Similarity clusters of one title's review embeddings.

Method: threshold community detection (as in sentence-transformers' ``community_detection``):
every review's neighbours are the reviews at cosine >= threshold; the review with the most
neighbours founds a cluster with its still-unassigned neighbours, and so on. It needs no preset
number of clusters, is deterministic, and works on any title size with memory bounded by the
chunk size (the similarity matrix is never held whole for large titles).

:func:`cluster_titles` clusters many titles at once with the same result as
:func:`cluster_embeddings` on each: a nightly run clusters thousands of titles of a few dozen
reviews, where NumPy's cost per call, not the arithmetic, was most of the time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from models.scoring.scratch import Scratch

UNCLUSTERED = -1
# Titles of at most STACK_ROWS reviews are clustered in stacks of titles padded to the same size
# (a multiple of PAD rows: padding to powers of two would make a product up to 4x larger), at most
# STACK_FLOATS floats of vectors and similarities a stack. Larger titles go one at a time.
STACK_ROWS = 256
PAD = 8
STACK_FLOATS = 1 << 21
EXACT_CENTRALITY = 2048  # members up to which a representative comes from the (m × m) cosines


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
    """The most central of ``members`` (rows of unit rows ``emb``): the largest mean cosine to
    the members, itself included; ties to the first. Up to ``EXACT_CENTRALITY`` members it is
    computed from their similarity matrix, as before issue 20, to the same floats: which of
    two members equally central but for rounding wins (either of a pair, always) stays as it
    was. A larger cluster uses the identity "mean cosine = dot product with the members' mean
    vector": O(m·d) time and memory instead of O(m²)."""
    sub = emb[members]
    if len(members) <= EXACT_CENTRALITY:
        return int(members[int(np.argmax((sub @ sub.T).mean(axis=1)))])
    return int(members[int(np.argmax(sub @ (sub.sum(axis=0) / len(members))))])


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
    if n <= STACK_ROWS:  # one code path for small titles, alone or stacked
        return cluster_titles([embeddings], threshold, min_size, chunk)[0]
    emb = normalize_rows(embeddings)
    indptr, indices = neighbours(emb, threshold, chunk)
    groups = found_groups(np.diff(indptr), lambda i: indices[indptr[i] : indptr[i + 1]], min_size)
    return from_groups(emb, groups)


def found_groups(
    counts: np.ndarray, neighbours_of: Callable[[int], np.ndarray], min_size: int
) -> list[np.ndarray]:
    """The founders' member groups: founders by neighbour count (``counts``, itself included),
    ties by index (a stable sort); each takes its still-unassigned neighbours
    (``neighbours_of(i)``, ascending) if they are ``min_size`` or more."""
    order = np.argsort(-counts, kind="stable").tolist()
    assigned = np.zeros(len(counts), dtype=bool)
    groups: list[np.ndarray] = []
    for i in order:  # per-founder loop: each step depends on what earlier steps assigned
        if counts[i] < min_size:
            break  # founders come by neighbour count: no later one can found a cluster
        if assigned[i]:
            continue
        neigh = neighbours_of(i)
        members = neigh[~assigned[neigh]]
        if len(members) < min_size:
            continue
        assigned[members] = True
        groups.append(members)
    return groups


def cluster_titles(
    titles: Sequence[np.ndarray], threshold: float, min_size: int = 2, chunk: int = 2048
) -> list[Clusters]:
    """:func:`cluster_embeddings` of each title's ``(n × d)`` embeddings (float16 or float32),
    with the same clusters (a test holds them equal).

    Titles of up to ``STACK_ROWS`` reviews are zero-padded to a common size and stacked: one
    normalization, one batched product (each slice the same BLAS call a lone title makes, so
    the same cosines to the bit) and one neighbour count per stack. Padding rows are zero
    vectors, at cosine 0 from everything, below any threshold (> 0). A title in which no
    review has ``min_size`` neighbours, the common case at the default threshold, has no
    clusters, and costs no founder loop."""
    out: list[Clusters | None] = [None] * len(titles)
    by_size: dict[int, list[int]] = {}
    for i, emb in enumerate(titles):
        n = len(emb)
        if n == 0 or n > STACK_ROWS:  # cluster_embeddings sends only smaller ones back here
            out[i] = cluster_embeddings(emb, threshold, min_size, chunk)
        else:
            by_size.setdefault(-(-n // PAD) * PAD, []).append(i)
    buffers = _StackBuffers()
    for rows, same_size in by_size.items():
        dim = titles[same_size[0]].shape[1]
        per_stack = max(1, STACK_FLOATS // (rows * (rows + dim)))
        for start in range(0, len(same_size), per_stack):
            part = same_size[start : start + per_stack]
            stack = buffers.stacked([titles[i] for i in part], rows, dim)
            stack /= np.maximum(np.linalg.norm(stack, axis=2, keepdims=True), 1e-12)
            ns = [len(titles[i]) for i in part]
            for i, res in zip(part, _cluster_stack(stack, ns, threshold, min_size), strict=True):
                out[i] = res
    return out  # type: ignore[return-value]  # every slot is filled above


class _StackBuffers:
    """The memory the stacks of one :func:`cluster_titles` call are built in
    (models/scoring/scratch.py; a stack holds about ``STACK_FLOATS`` floats). Stored vectors
    are float16: they are copied into a float16 stack, which torch converts to float32 in one
    call: NumPy's float16 cast is a scalar loop (21 ms per 12.6M values on the bench machine;
    the pool's 491k reviews took 0.3 s), torch's uses the CPU's conversion instructions
    (2.5 ms). The conversion is exact, so the cosines are the same floats either way."""

    def __init__(self) -> None:
        self.half = Scratch(np.float16, STACK_FLOATS)
        self.full = Scratch(np.float32, STACK_FLOATS)

    def stacked(self, titles: Sequence[np.ndarray], rows: int, dim: int) -> np.ndarray:
        """``titles`` zero-padded to ``rows`` rows, as a float32 (titles × rows × dim) view of
        the buffers, valid until the next call."""
        shape = (len(titles), rows, dim)
        full = self.full.take(shape)
        if all(t.dtype == np.float16 for t in titles):
            half = self.half.take(shape)
            half.fill(0)
            for j, emb in enumerate(titles):
                half[j, : len(emb)] = emb
            torch.from_numpy(full).copy_(torch.from_numpy(half))
        else:
            full.fill(0)
            for j, emb in enumerate(titles):
                full[j, : len(emb)] = emb
        return full


def _cluster_stack(
    stack: np.ndarray, ns: list[int], threshold: float, min_size: int
) -> list[Clusters]:
    """The clusters of a stack of zero-padded unit rows ``stack`` (titles × rows × d), title j
    being its first ``ns[j]`` rows."""
    hits = np.matmul(stack, stack.transpose(0, 2, 1)) >= threshold
    counts = hits.sum(axis=2)
    out = []
    for j, n in enumerate(ns):
        if counts[j, :n].max(initial=0) < min_size:  # no review has a neighbour: no cluster
            out.append(Clusters(np.full(n, UNCLUSTERED, dtype=np.int32), (), ()))
            continue
        h = hits[j, :n, :n]
        groups = found_groups(counts[j, :n], lambda k, h=h: np.flatnonzero(h[k]), min_size)
        out.append(from_groups(stack[j, :n], groups))
    return out


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
