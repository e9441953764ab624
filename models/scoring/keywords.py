"""Cluster keywords: nouns from kiwipiepy, weighted per cluster as c-TF-IDF does.

c-TF-IDF (BERTopic): treat each cluster as one document; weight of term t in cluster c is
``tf(t, c) / words(c) * log(1 + A / f(t))`` where A is the mean number of words per cluster and
f(t) the frequency of t over all clusters of the title.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from functools import cache

NOUN_TAGS = ("NNG", "NNP")
# Nouns that say nothing about a film review.
STOP_NOUNS = frozenset(
    {"영화", "것", "수", "거", "때", "점", "평점", "정도", "느낌", "진짜", "이거"}
)


@cache
def _kiwi():  # loading the analyzer takes ~1 s: once per process
    from kiwipiepy import Kiwi

    return Kiwi()


def nouns(texts: Sequence[str]) -> list[list[str]]:
    """Nouns (two characters or more, not stop words) of each text, in order."""
    out = []
    for tokens in _kiwi().tokenize(list(texts)):
        out.append(
            [
                t.form
                for t in tokens
                if t.tag in NOUN_TAGS and len(t.form) >= 2 and t.form not in STOP_NOUNS
            ]
        )
    return out


def ctfidf_keywords(
    docs_nouns: Sequence[Sequence[str]], labels: Sequence[int], top_k: int = 5
) -> dict[int, list[str]]:
    """Top ``top_k`` keywords per cluster label (negative labels = unclustered, ignored)."""
    per_cluster: dict[int, Counter[str]] = {}
    for words, label in zip(docs_nouns, labels, strict=True):
        if label < 0:
            continue
        per_cluster.setdefault(label, Counter()).update(words)
    if not per_cluster:
        return {}
    total = Counter[str]()
    for counts in per_cluster.values():
        total.update(counts)
    mean_words = sum(total.values()) / len(per_cluster)
    out: dict[int, list[str]] = {}
    for label, counts in per_cluster.items():
        n_words = sum(counts.values()) or 1
        weights = {
            t: (c / n_words) * math.log(1 + mean_words / total[t]) for t, c in counts.items()
        }
        out[label] = [t for t, _ in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))][:top_k]
    return out
