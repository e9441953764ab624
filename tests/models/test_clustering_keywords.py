from __future__ import annotations

import numpy as np
import pytest

from models.scoring.clustering import UNCLUSTERED, cluster_embeddings
from models.scoring.emotion_math import emotion_point, top_emotions
from models.scoring.keywords import ctfidf_keywords, nouns


def _near(base: np.ndarray, n: int, noise: float, rng: np.random.Generator) -> np.ndarray:
    return base + noise * rng.standard_normal((n, base.shape[0]))


def test_near_identical_group_together_unrelated_apart() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(64), rng.standard_normal(64)
    loners = rng.standard_normal((5, 64))
    emb = np.vstack([_near(a, 6, 0.05, rng), _near(b, 3, 0.05, rng), loners])
    res = cluster_embeddings(emb, threshold=0.9)
    assert res.sizes == (6, 3)
    assert set(res.labels[:6]) == {0} and set(res.labels[6:9]) == {1}
    assert set(res.labels[9:]) == {UNCLUSTERED}  # random 64-d vectors are far apart
    assert res.representatives[0] in range(6) and res.representatives[1] in range(6, 9)


def test_threshold_controls_granularity_and_chunking_changes_nothing() -> None:
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((40, 16))
    loose = cluster_embeddings(emb, threshold=0.2)
    tight = cluster_embeddings(emb, threshold=0.95)
    assert sum(loose.sizes) > sum(tight.sizes)
    chunked = cluster_embeddings(emb, threshold=0.2, chunk=7)
    assert np.array_equal(chunked.labels, loose.labels)


def test_empty_title() -> None:
    res = cluster_embeddings(np.zeros((0, 8)), threshold=0.8)
    assert res.sizes == () and len(res.labels) == 0


def test_emotion_point_rule() -> None:
    probs = np.full((3, 44), 0.05, dtype=np.float32)
    probs[0, [2, 5]] = [0.8, 0.6]  # both >= 0.4 -> their mean
    probs[1, [2, 5]] = [0.5, 0.3]  # only one -> that one
    probs[2, [2, 5]] = [0.3, 0.1]  # none -> mean of the top-2
    assert emotion_point(probs) == pytest.approx([0.7, 0.5, 0.2])
    labels = [f"e{i}" for i in range(44)]
    assert top_emotions(probs, labels, k=2) == [["e2", "e5"], ["e2", "e5"], ["e2", "e5"]]


def test_keywords_prefer_cluster_specific_nouns() -> None:
    texts = [
        "배우 연기가 정말 훌륭하다",
        "주연 배우 연기 최고",
        "연기 배우 감동",
        "음악이 좋고 음악 감독 최고",
        "음악 사운드트랙이 좋다",
    ]
    words = nouns(texts)
    assert "연기" in words[0] and "영화" not in words[0]
    kw = ctfidf_keywords(words, [0, 0, 0, 1, 1], top_k=2)
    assert kw[0][0] in {"연기", "배우"} and kw[1][0] == "음악"
    assert ctfidf_keywords(words, [UNCLUSTERED] * 5) == {}
