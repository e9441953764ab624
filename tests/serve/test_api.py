"""Happy paths over real HTTP: the records are those of `kreview predict` / `similarity`, the
title endpoints show the views, concurrent requests share encoder passes, and the command
starts a server that answers and stops on SIGTERM."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from core.warehouse import Warehouse
from models.scoring.predict import predict_records
from tests.etl import warehouse_fixture as fx
from tests.serve.conftest import Api, running

TEXTS = ["영화 좋아요 ㅋㅋㅋㅋ", "진짜 별로 지루 ㅠㅠ", "감동 최고 👍🏽", "스토리 배우 연출"]
PAIRS = [("영화 좋아요", "최고 영화 재밌다"), ("별로 지루", "감동 명작 ㅋㅋ")]


def cli(models_root: Path, *args: str, stdin: str = "") -> list[dict[str, Any]]:
    """Run the real `kreview` CLI in-process; its JSON lines."""
    from jobs.cli import app

    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    result = CliRunner().invoke(
        app, ["-w", str(models_root), *args], input=stdin, env=env, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_health_ready_and_openapi(api: Api) -> None:
    with api.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"models": "ok", "warehouse": "ok"}
        doc = c.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/similarity", "/v1/titles", "/v1/titles/{title_id}"} <= set(
        doc["paths"]
    )
    # the limits are part of the contract clients and fuzzers read
    body = doc["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert body["maxItems"] == api.cfg.max_texts and body["minItems"] == 1
    assert body["items"]["maxLength"] == api.cfg.max_text_chars


def test_predict_returns_exactly_the_records_of_kreview_predict(
    api: Api, models_root: Path
) -> None:
    with api.client() as c:
        r = c.post("/v1/predict", json={"texts": TEXTS})
        with_emb = c.post("/v1/predict", json={"texts": TEXTS, "embedding": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.json()["results"] == cli(models_root, "predict", "-", stdin="\n".join(TEXTS))
    assert with_emb.json()["results"] == cli(
        models_root, "predict", "-", "--embedding", stdin="\n".join(TEXTS)
    )
    first = r.json()["results"][0]
    assert first["text"] == TEXTS[0] and first["text_norm"] == "영화 좋아요 ㅋㅋ"
    assert len(first["emotions"]) == 44 and "embedding" not in first
    # the tiny joint model has a stars head: the records carry its reading
    assert first["predicted_rating"] in range(1, 11) and 1 <= first["expected_rating"] <= 10


def test_similarity_returns_exactly_the_records_of_kreview_similarity(
    api: Api, models_root: Path, tmp_path: Path
) -> None:
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("".join(f"{a}\t{b}\n" for a, b in PAIRS), encoding="utf-8")
    body = {"pairs": [{"sentence1": a, "sentence2": b} for a, b in PAIRS]}
    with api.client() as c:
        r = c.post("/v1/similarity", json=body)
    assert r.status_code == 200
    got = r.json()["results"]
    assert got == cli(models_root, "similarity", "--pairs", str(tsv))
    assert all(
        0.0 <= g["score"] <= 5.0 and g["same"] == (g["score"] >= g["threshold"]) for g in got
    )


def test_titles_list_reads_title_scores(api: Api) -> None:
    with api.client() as c:
        page = c.get("/v1/titles").json()
        naver = c.get("/v1/titles", params={"scope": "watcha"}).json()
        found = c.get("/v1/titles", params={"q": "괴"}).json()
        second = c.get("/v1/titles", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [t["title_id"] for t in page["titles"]] == ["t1", "t2"]
    t1 = page["titles"][0]
    assert (t1["title"], t1["n_reviews"], t1["n_scored"]) == ("괴물", 4, 4)
    assert t1["bayes_score"] == pytest.approx(83 / 14)  # as in tests/etl/test_views.py
    assert t1["title_score_0_10"] == pytest.approx(6.25)
    # the fixture's registry has no rating model: the columns are there, empty
    assert (t1["n_predicted"], t1["mean_predicted_rating"], t1["mean_rating_gap"]) == (
        0,
        None,
        None,
    )
    assert [(t["title_id"], t["n_reviews"]) for t in naver["titles"]] == [("t1", 1)]
    assert [t["title"] for t in found["titles"]] == ["괴물"] and found["total"] == 1
    assert [t["title_id"] for t in second["titles"]] == ["t2"] and second["total"] == 2


def test_title_detail_scores_emotions_clusters_and_404(api: Api) -> None:
    with api.client() as c:
        r = c.get("/v1/titles/t1")
        missing = c.get("/v1/titles/no-such-title")
    assert r.status_code == 200
    t1 = r.json()
    assert t1["title"] == "괴물"
    assert [s["scope"] for s in t1["scores"]] == ["all", "naver", "watcha"]
    assert len(t1["emotions"]) == 44
    top = t1["emotions"][0]  # 감동/감탄: 0.8, 0.01, 0.3, 0.5 over the 4 reviews
    assert (top["emotion"], top["mean_intensity"]) == ("감동/감탄", pytest.approx(1.61 / 4))
    intensities = [e["mean_intensity"] for e in t1["emotions"]]
    assert intensities == sorted(intensities, reverse=True)
    assert [(c["cluster_id"], c["size"], c["keywords"]) for c in t1["clusters"]] == [
        (0, 3, ["연기", "감동"]),
        (1, 1, ["짜증"]),
    ]
    assert t1["clusters"][0]["representative_key"] == fx.key("r1", "naver")
    assert t1["clusters"][0]["share"] == pytest.approx(0.75)
    assert missing.status_code == 404
    assert missing.json()["error"] == "no title 'no-such-title' in the views"


def test_concurrent_requests_share_encoder_passes(models: Any, views_wh: Warehouse) -> None:
    """16 one-text requests queued while the model thread is busy go through in one batch,
    and each gets its own text's record."""
    texts = [f"{TEXTS[i % 4]} {i}" for i in range(16)]
    with running(models, views_wh, batch_wait_ms=50) as a:
        gate = threading.Event()
        a.app.state.executor.submit(gate.wait)  # occupy the model thread
        batcher = a.batcher()
        results: dict[int, httpx.Response] = {}

        def one(i: int) -> None:
            with a.client() as c:
                results[i] = c.post("/v1/predict", json={"texts": [texts[i]]})

        threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while batcher.queued < 16 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batcher.queued == 16
        before = batcher.stats.batches
        gate.set()
        for t in threads:
            t.join(30)
    assert all(results[i].status_code == 200 for i in range(16))
    # the worker may have taken a first batch before the rest arrived: at most two passes
    assert batcher.stats.batches - before <= 2 and batcher.stats.largest_batch >= 8
    alone = list(predict_records(models, texts))
    for i in range(16):
        (rec,) = results[i].json()["results"]
        assert rec["text"] == texts[i]
        # batched with others (other padding): the same scores to float precision
        assert rec["p_positive"] == pytest.approx(alone[i]["p_positive"], abs=1e-5)
        assert rec["top_emotions"][:1] == alone[i]["top_emotions"][:1]


def test_kreview_serve_command_serves_and_stops_on_sigterm(
    models_root: Path, tmp_path: Path
) -> None:
    root = tmp_path / "wh"  # a registry and no catalog yet
    shutil.copytree(models_root / "models", root / "models")
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    env.update(OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.cli", "-w", str(root), "serve", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert proc.stderr is not None
        lines = []
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if m := re.search(r"running on (http://127\.0\.0\.1:\d+)", line):
                url = m.group(1)
        assert url, "".join(lines)
        assert any("model joint/" in ln for ln in lines)  # it says which models it serves
        assert any("no catalog" in ln for ln in lines)  # this warehouse has only models
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        r = httpx.post(f"{url}/v1/predict", json={"texts": ["영화 좋아요"]}, timeout=60)
        assert r.status_code == 200 and r.json()["results"][0]["text"] == "영화 좋아요"
        ready = httpx.get(f"{url}/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["warehouse"].startswith("no")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
