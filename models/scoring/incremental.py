"""Incremental cluster maintenance: new reviews join the clusters a title already has.

The full method (``clustering.cluster_embeddings``) stays the reference: it runs when a title
is clustered for the first time, when its model version changed, or when the rules below say
its clusters have drifted. Otherwise each new review joins the existing cluster whose centroid
it is closest to, if that cosine is at or above the clustering threshold, and stays
unclustered if not; this is what BERTopic's ``transform`` does for new documents. It costs a
(new reviews × clusters) product per title instead of (reviews × reviews), and no text
analysis (keywords come from the terms stored per review).

Sizes and representatives (``clustering.representative``, as the full method picks them) are
recomputed from the members; cluster ids are renumbered so that 0 stays the largest.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from models.scoring.clustering import UNCLUSTERED, Clusters, normalize_rows, representative


@dataclass(frozen=True)
class RefreshRules:
    """When a title is clustered from scratch instead of incrementally."""

    new_share: float  # new reviews since the last full clustering, over the reviews it saw
    unclustered_growth: float  # rise of the unclustered share since the last full clustering


@dataclass(frozen=True)
class FullState:
    """What the last full clustering of a title saw (``cluster_state``)."""

    n_reviews: int  # reviews it clustered
    unclustered_share: float  # share of them it left unclustered
    n_added: int  # reviews added incrementally since


def needs_full(state: FullState | None, n_new: int, rules: RefreshRules) -> str | None:
    """Why the title must be clustered from scratch before the new reviews are assigned
    (None: assign them). ``state`` is None for a title never clustered at this model version."""
    if state is None:
        return "first clustering at this model version"
    if state.n_added + n_new > rules.new_share * state.n_reviews:
        return f"new reviews exceed {rules.new_share:.0%} of those clustered"
    return None


def drifted(state: FullState, labels: np.ndarray, rules: RefreshRules) -> bool:
    """After an assignment: has the unclustered share grown past the bound?"""
    share = float(np.mean(labels == UNCLUSTERED)) if len(labels) else 0.0
    return share > state.unclustered_share + rules.unclustered_growth


def assign(
    embeddings: np.ndarray, labels: np.ndarray, new: np.ndarray, threshold: float
) -> Clusters:
    """Clusters of a title after its reviews ``new`` (indices into ``embeddings``) join the
    clusters in ``labels`` (one per review; the entries at ``new`` are ignored).

    Cluster ids are renumbered so that 0 stays the largest (ties: the old id first): a
    cluster's members are what identify it, as after a full clustering.
    """
    emb = normalize_rows(embeddings)
    labels = labels.astype(np.int32, copy=True)
    labels[new] = UNCLUSTERED
    old_ids = np.unique(labels[labels != UNCLUSTERED])
    if len(old_ids) and len(new):
        sums = np.stack([emb[labels == k].sum(axis=0) for k in old_ids])
        centroids = normalize_rows(sums)
        sims = emb[new] @ centroids.T
        best = sims.argmax(axis=1)
        joined = sims[np.arange(len(new)), best] >= threshold
        labels[new[joined]] = old_ids[best[joined]]
    return _relabel(emb, labels)


def _relabel(emb: np.ndarray, labels: np.ndarray) -> Clusters:
    ids = np.unique(labels[labels != UNCLUSTERED])
    sizes = {int(k): int(np.sum(labels == k)) for k in ids}
    order = sorted(sizes, key=lambda k: (-sizes[k], k))
    out = np.full(len(labels), UNCLUSTERED, dtype=np.int32)
    reps = []
    for cid, k in enumerate(order):
        members = np.flatnonzero(labels == k)
        out[members] = cid
        reps.append(representative(emb, members))
    return Clusters(out, tuple(sizes[k] for k in order), tuple(reps))
