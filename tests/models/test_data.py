"""Readers of NSMC, KOTE, KLUE-STS and warehouse weak labels; splits and fingerprints."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from core.catalog import open_writer
from core.warehouse import Warehouse
from jobs.config import AppConfig
from models.data import (
    KOTE_LABELS,
    DataError,
    concat,
    default_eval_path,
    read_data,
    read_klue_sts,
    read_kote,
    read_nsmc,
    split_validation,
)


def test_nsmc_keeps_bare_quotes_and_drops_empty_documents(tmp_path: Path) -> None:
    path = tmp_path / "ratings_train.txt"
    path.write_text(
        'id\tdocument\tlabel\n1\t"""최고""" 명작\t1\n2\t\t0\n3\t별로 ㅡㅡ\t0\n', encoding="utf-8"
    )
    ex = read_nsmc(path)
    assert ex.texts == ('"""최고""" 명작', "별로 ㅡㅡ")  # quoting left exactly as in the file
    assert ex.labels.tolist() == [1, 0]


def test_nsmc_rejects_other_labels(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("id\tdocument\tlabel\n1\t좋다\t2\n", encoding="utf-8")
    with pytest.raises(DataError, match="label other than 0/1"):
        read_nsmc(path)


def test_kote_multi_hot_and_labels_file(tmp_path: Path) -> None:
    (tmp_path / "labels.tsv").write_text("index\tlabel\n0\t기쁨\n1\t슬픔\n2\t없음\n", "utf-8")
    (tmp_path / "val.tsv").write_text('11\t"좋다" ㅋㅋ\t0,2\n12\t슬퍼요\t1\n', "utf-8")
    ex = read_kote(tmp_path / "val.tsv")
    assert ex.label_names == ("기쁨", "슬픔", "없음")
    assert ex.texts[0] == '"좋다" ㅋㅋ'
    np.testing.assert_array_equal(ex.labels, [[1, 0, 1], [0, 1, 0]])


def test_kote_falls_back_to_the_44_builtin_labels(tmp_path: Path) -> None:
    (tmp_path / "test.tsv").write_text("1\t헐\t43,0\n", "utf-8")
    ex = read_kote(tmp_path / "test.tsv")
    assert len(ex.label_names) == 44 and ex.label_names == KOTE_LABELS
    assert ex.labels[0, 43] == 1 and ex.labels[0, 0] == 1 and ex.labels.sum() == 2


def test_kote_index_out_of_range(tmp_path: Path) -> None:
    (tmp_path / "labels.tsv").write_text("index\tlabel\n0\t기쁨\n1\t슬픔\n", "utf-8")
    (tmp_path / "val.tsv").write_text("1\t헐\t5\n", "utf-8")
    with pytest.raises(DataError, match="outside"):
        read_kote(tmp_path / "val.tsv")


@pytest.mark.parametrize("gz", [False, True])
def test_klue_sts_json_and_gz(tmp_path: Path, gz: bool) -> None:
    items = [
        {
            "guid": "g0",
            "source": "airbnb-rtt",
            "sentence1": "숙소가 좋아요",
            "sentence2": "숙소는 좋았어요",
            "labels": {"label": 4.2, "real-label": 4.2, "binary-label": 1},
        },
        {
            "guid": "g1",
            "source": "policy-sampled",
            "sentence1": "세금 문제",
            "sentence2": "날씨가 맑다",
            "labels": {"label": 0.0, "real-label": 0.0, "binary-label": 0},
        },
    ]
    body = json.dumps(items, ensure_ascii=False, indent=4).encode()
    path = tmp_path / ("sts.json.gz" if gz else "sts.json")
    path.write_bytes(gzip.compress(body) if gz else body)
    ex = read_klue_sts(path)
    assert ex.texts == ("숙소가 좋아요", "세금 문제")
    assert ex.texts_b == ("숙소는 좋았어요", "날씨가 맑다")
    np.testing.assert_allclose(ex.labels, [4.2, 0.0], rtol=1e-6)


def _insert_review(con, review_id: str, rating: float | None, text: str) -> None:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    con.execute(
        "INSERT INTO reviews (review_key, source, review_id, title_id, title, source_title_id,"
        " rating, text_raw, text_norm, laugh_count, cry_count, emoji_count, hangul_ratio,"
        " length, truncated, url, scraped_at, first_seen_run, last_seen_run)"
        " VALUES (?, 'naver', ?, 't1', '영화', 's1', ?, ?, ?, 0, 0, 0, 1.0, ?, false,"
        " 'http://x', ?, 'r1', 'r1')",
        [f"k{review_id}", review_id, rating, text, text, len(text), now],
    )


def test_weak_labels_from_rated_reviews(cfg: AppConfig) -> None:
    wh = Warehouse(cfg.warehouse.root)
    with open_writer(wh) as con:
        for rid, rating, text in [
            ("1", 10.0, "인생 영화"),
            ("2", 9.0, "좋아요"),
            ("3", 8.0, "괜찮음"),  # 5–8: skipped
            ("4", 4.0, "별로"),
            ("5", 0.0, "최악"),
            ("6", None, "평점 없음"),  # no rating: skipped
        ]:
            _insert_review(con, rid, rating, text)
    ex = read_data("sentiment", "warehouse", wh)
    assert dict(zip(ex.texts, ex.labels.tolist(), strict=True)) == {
        "인생 영화": 1,
        "좋아요": 1,
        "별로": 0,
        "최악": 0,
    }
    mixed = concat([ex, read_nsmc(_nsmc(cfg.warehouse.root.parent / "n.txt"))])
    assert len(mixed) == 5 and mixed.labels.tolist()[-1] == 1


def _nsmc(path: Path) -> Path:
    path.write_text("id\tdocument\tlabel\n1\t명작\t1\n", encoding="utf-8")
    return path


def test_weak_labels_only_for_sentiment(cfg: AppConfig) -> None:
    with pytest.raises(DataError, match="only for sentiment"):
        read_data("emotion", "warehouse", Warehouse(cfg.warehouse.root))


def test_split_is_seeded_disjoint_and_capped(tiny_data: dict[str, Path]) -> None:
    ex = read_nsmc(tiny_data["sentiment"])
    train, val = split_validation(ex, 0.25, 10, seed=3)
    again_train, again_val = split_validation(ex, 0.25, 10, seed=3)
    assert len(val) == 10 and len(train) == len(ex) - 10
    assert val.texts == again_val.texts and train.texts == again_train.texts
    other_train, _ = split_validation(ex, 0.25, 10, seed=4)
    assert other_train.texts != train.texts


def test_fingerprint_tracks_texts_and_labels(tiny_data: dict[str, Path]) -> None:
    ex = read_nsmc(tiny_data["sentiment_test"])
    same = read_nsmc(tiny_data["sentiment_test"])
    assert ex.fingerprint() == same.fingerprint()
    flipped = ex.labels.copy()
    flipped[0] = 1 - flipped[0]
    changed = type(ex)(ex.task, ex.texts, flipped, source=ex.source)
    assert changed.fingerprint() != ex.fingerprint()
    assert ex.sample(5, 0).fingerprint() == ex.sample(5, 0).fingerprint()
    assert ex.sample(5, 0).fingerprint() != ex.sample(6, 0).fingerprint()


def test_default_held_out_files(tiny_data: dict[str, Path]) -> None:
    for task in ("sentiment", "emotion", "similarity"):
        assert default_eval_path(task, str(tiny_data[task])) == tiny_data[f"{task}_test"]
    assert default_eval_path("sentiment", "warehouse") is None
    assert default_eval_path("sentiment", str(tiny_data["sentiment_test"])) is None
