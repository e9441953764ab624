"""A small report warehouse: the hand-checked views fixture (tests/etl/warehouse_fixture.py)
plus reviews holding HTML, a title whose name holds markup, a current rating model with
hand-checked predicted stars, a real clean stage that quarantines bad rows, and model folders
with metrics and a training plot."""

from __future__ import annotations

import json
from pathlib import Path

from core.catalog import open_writer
from core.stage import StageResult
from core.warehouse import Warehouse
from etl import clean, views
from jobs.config import AppConfig
from jobs.runner import Run, StageContext
from tests.etl import warehouse_fixture as fx
from tests.etl.rawdata import record, write_raw

SCRIPT_REVIEW = "<script>alert(1)</script> 별로였다 & 지루함"
ODD_TITLE = '톰 & 제리 <i>"극장판"</i>'
# (review_id, title_id, title, source, rating, day, text, scored: (sentiment, p, point, emotions))
EXTRA = [
    ("r7", "t1", "괴물", "naver", 10.0, 3, SCRIPT_REVIEW, (0, 0.05, 0.6, {22: 0.7, 37: 0.5})),
    ("r8", "t3", ODD_TITLE, "watcha", 8.0, 2, "재밌어요 <img src=x onerror=alert(2)>",
     (1, 0.85, 0.5, {28: 0.6, 42: 0.4})),
    ("r9", "t3", ODD_TITLE, "naver", 3.0, 4, "지루했다", (0, 0.3, 0.4, {37: 0.6, 0: 0.3})),
]  # fmt: skip
# Stars read from the text by the current rating model: review_id -> (predicted_rating (the
# median), expected_rating (the mean)); quarter stars, exact in the table's FLOAT. r6 (t2) is
# predicted though its sentiment is not scored yet. Per title ('all'):
#   t1: expected 8.5 3.25 6.5 7.75 2.5 -> mean 5.7; given 10 2 6 8 10 -> gaps -1.5 1.25 0.5
#       -0.25 -7.5 -> mean -1.5; the largest |gap| first: r7 (-7.5), r1, r2, r3, r4
#   t2: expected 4.5 5.0 -> mean 4.75; given 9 4 -> gaps -4.5 1.0 -> mean -1.75
#   t3: expected 8.75 2.25 -> mean 5.5; given 8 3 -> gaps 0.75 -0.75 -> mean 0.0
RATING_V = "rate-v1"
PREDICTED = {
    "r1": (9.0, 8.5),
    "r2": (3.0, 3.25),
    "r3": (7.0, 6.5),
    "r4": (8.0, 7.75),
    "r7": (2.0, 2.5),
    "r5": (4.0, 4.5),
    "r6": (5.0, 5.0),
    "r8": (9.0, 8.75),
    "r9": (2.0, 2.25),
}
SOURCES = {"r4": "watcha", "r8": "watcha"}  # the others are Naver reviews
SENT_METRICS = {"primary": "accuracy", "accuracy": 0.8125, "f1": 0.79, "n": 16}
EMO_METRICS = {"primary": "macro_f1", "macro_f1": 0.31, "macro_auroc": 0.58, "per_label_f1": {}}


def _insert(con, rid, tid, title, source, rating, day, text, scored) -> None:
    k = fx.insert_review(con, rid, tid, title, source, rating, day, text, text)
    sentiment, p, point, emo = scored
    labels = dict(con.execute("SELECT idx, label FROM emotion_labels").fetchall())
    vec = [emo.get(i, 0.01) for i in range(44)]
    top = [labels[i] for i in sorted(emo, key=lambda i: -emo[i])]
    con.execute(
        "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'run0')",
        [k, fx.SENT_V, fx.EMO_V, sentiment, p, vec, top, point, fx.T],
    )


def _insert_rating_model(con) -> None:  # type: ignore[no-untyped-def]
    """A current rating model and its stars; a stale version's stars the views never read."""
    for version, current in ((RATING_V, True), ("rate-v0", False)):
        con.execute(
            "INSERT INTO model_versions (task, version, kind, path, metrics, created_at,"
            " is_current) VALUES ('rating', ?, 'joint', ?, '{}', ?, ?)",
            [version, f"joint/{version}", fx.T, current],
        )
    for rid, (median, mean) in PREDICTED.items():
        k = fx.key(rid, SOURCES.get(rid, "naver"))
        con.execute(
            "INSERT INTO rating_scores VALUES (?, ?, ?, ?, ?, 'run0'),"
            " (?, 'rate-v0', 1, 1, ?, 'run0')",
            [k, RATING_V, median, mean, fx.T, k, fx.T],
        )


def drop_rating_model(wh: Warehouse) -> None:
    """The warehouse as a registry from before the rating head leaves it: no rating model
    is current, so every predicted column is NULL."""
    with open_writer(wh) as con:
        con.execute("UPDATE model_versions SET is_current = false WHERE task = 'rating'")
        views.refresh_aggregates(con)


def _plot(path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1, 2], [0.9, 0.5, 0.3])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")


def _score_stage(ctx: StageContext) -> StageResult:
    """Stands in for the score stage in the ledger only (the views fixture's scores are
    written by hand): what the run page reads of it is the ledger row."""
    return StageResult(rows_in=9, rows_out=9, details={"reviews_per_s": 123.4, "device": "cpu"})


def build(cfg: AppConfig) -> Warehouse:
    wh = fx.build(cfg.warehouse.root)
    with open_writer(wh) as con:
        for item in EXTRA:
            _insert(con, *item)
        _insert_rating_model(con)
        con.execute(
            "UPDATE model_versions SET metrics = ? WHERE version = ?",
            [json.dumps(SENT_METRICS), fx.SENT_V],
        )
        con.execute(
            "UPDATE model_versions SET metrics = ? WHERE task = 'emotion'",
            [json.dumps(EMO_METRICS, ensure_ascii=False)],
        )
        views.refresh_aggregates(con)
    _plot(wh.models_dir / "sentiment" / fx.SENT_V / "learning_curves.png")
    _plot(wh.models_dir / "emotion" / fx.EMO_V / "per_label_f1.png")
    _plot(wh.models_dir / "sentiment" / "sent-v0" / "learning_curves.png")  # not current
    # Raw rows the clean stage rejects (so the quarantine holds real reasons for a real run).
    write_raw(
        wh.raw_dir,
        "bad",
        [
            record("x1", None, title_id="t1", title="괴물"),
            record("x2", "great movie honestly", title_id="t1", title="괴물"),
            record("x3", "english only here", title_id="t2", title="곡성"),
            record("x4", "좋아요 영화", rating=12.0, title_id="t2", title="곡성"),
        ],
    )
    with Run(cfg, "run", show_progress=False) as run:
        run.stage("clean", clean.run)
        run.stage("score", _score_stage)
        run.stage("views", views.run)
    return wh


# Titles added by add_titles: (title_id, reviews, of which sentiment contradicts the stars).
# By reviews: x6 (7), x5 (6), then t1 (5) and the others; x2 has the most disagreements (2).
MORE_TITLES = [("x1", 1, 0), ("x2", 2, 2), ("x3", 3, 0), ("x4", 4, 1), ("x5", 6, 0), ("x6", 7, 0)]


def add_titles(wh: Warehouse) -> None:
    """More titles than the fixture's three, with distinct review counts, for the tests of
    which titles get a page."""
    with open_writer(wh) as con:
        for tid, n, n_disagree in MORE_TITLES:
            for i in range(n):
                against = i < n_disagree  # 10 stars read negative
                scored = (0 if against else 1, 0.1 if against else 0.9, 0.5, {2: 0.6, 28: 0.4})
                _insert(con, f"{tid}-r{i}", tid, f"영화 {tid}", "naver", 10.0, 1 + i % 5,
                        f"리뷰 {i}", scored)  # fmt: skip
        views.refresh_aggregates(con)
