"""A small scored warehouse with hand-checkable numbers, for the views, checks and exports."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from core.catalog import open_writer
from core.warehouse import Warehouse
from etl.raw_schema import review_key
from etl.views import create_views, refresh_aggregates

T = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

# (review_id, title_id, title, source, rating, day, scored: (sentiment, p_pos, point, emotions))
REVIEWS = [
    ("r1", "t1", "괴물", "naver", 10.0, 1, (1, 0.9, 0.7, {2: 0.8, 28: 0.6})),
    ("r2", "t1", "괴물", "naver", 2.0, 1, (0, 0.2, 0.5, {22: 0.5, 0: 0.3})),
    ("r3", "t1", "괴물", "naver", 6.0, 2, (1, 0.6, 0.3, {2: 0.3, 40: 0.2})),
    ("r4", "t1", "괴물", "watcha", 8.0, 2, (1, 0.8, 0.5, {2: 0.5, 42: 0.5})),
    ("r5", "t2", "곡성", "naver", 9.0, 1, (0, 0.4, 0.6, {18: 0.7, 34: 0.5})),
    ("r6", "t2", "곡성", "naver", 4.0, 3, None),  # not scored yet
]
LABELS = {0: "불평/불만", 2: "감동/감탄", 18: "공포/무서움", 22: "짜증", 28: "즐거움/신남",
          34: "경악", 40: "행복", 42: "기쁨"}  # fmt: skip
SENT_V, EMO_V, SIM_V = "sent-v1", "emo-v1", "sim-v1"


def key(review_id: str, source: str) -> str:
    return review_key(source, review_id)


def build(root: Path) -> Warehouse:
    wh = Warehouse(root)
    with open_writer(wh) as con:
        fill(con)
        create_views(con)
        refresh_aggregates(con)
    return wh


def insert_review(
    con: duckdb.DuckDBPyConnection,
    rid: str,
    tid: str,
    title: str,
    source: str,
    rating: float | None,
    day: int,
    text_raw: str,
    text_norm: str,
) -> str:
    """One clean review (features fixed), written on ``day`` of the fixture's month; its key."""
    k = key(rid, source)
    con.execute(
        "INSERT INTO reviews (review_key, source, review_id, title_id, title, source_title_id,"
        " rating, text_raw, text_norm, laugh_count, cry_count, emoji_count, emojis,"
        " text_rating, hangul_ratio, length, truncated, author_hash, written_at, likes,"
        " spoiler, url, scraped_at, first_seen_run, last_seen_run) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, [], NULL, 1.0, 4, false, 'h', ?, 0, false,"
        " 'u', ?, 'run0', 'run0')",
        [k, source, rid, tid, title, f"{source}-{tid}", rating, text_raw, text_norm,
         T.replace(day=day), T],
    )  # fmt: skip
    return k


def fill(con: duckdb.DuckDBPyConnection) -> None:
    for rid, tid, title, source, rating, day, scored in REVIEWS:
        k = insert_review(
            con, rid, tid, title, source, rating, day, f"<b>{rid}</b> 리뷰", f"{rid} 리뷰"
        )
        if scored:
            sentiment, p, point, emo = scored
            vec = [emo.get(i, 0.01) for i in range(44)]
            top = [LABELS[i] for i in sorted(emo, key=lambda i: -emo[i])]
            con.execute(
                "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'run0')",
                [k, SENT_V, EMO_V, sentiment, p, vec, top, point, T],
            )
            # a stale score by an older model must never be read by the views
            con.execute(
                "INSERT INTO scores VALUES (?, 'sent-v0', ?, 0, 0.01, ?, [], 0.0, ?, 'run0')",
                [k, EMO_V, vec, T],
            )
    for task, version in (("sentiment", SENT_V), ("emotion", EMO_V), ("similarity", SIM_V)):
        con.execute(
            "INSERT INTO model_versions (task, version, kind, path, metrics, created_at,"
            " is_current) VALUES (?, ?, ?, ?, '{}', ?, true)",
            [task, version, task, f"{task}/{version}", T],
        )
    con.execute(
        "INSERT INTO model_versions (task, version, kind, path, metrics, created_at, is_current)"
        " VALUES ('sentiment', 'sent-v0', 'sentiment', 'sentiment/sent-v0', '{}', ?, false)",
        [T],
    )
    con.execute(
        "INSERT INTO clusters VALUES ('t1', ?, 0, 3, ?, ['연기', '감동'], ?, 'run0'),"
        " ('t1', ?, 1, 1, ?, ['짜증'], ?, 'run0')",
        [SIM_V, key("r1", "naver"), T, SIM_V, key("r2", "naver"), T],
    )
