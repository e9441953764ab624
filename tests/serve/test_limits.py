"""Every limit and every kind of bad input, over real HTTP: 422 with a message that names the
problem, 413 for big bodies, 503 + Retry-After when the queue is full or a writer holds the
catalog, 401 without the key, never a stack trace."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from core.warehouse import Warehouse
from jobs.serve import titles
from jobs.serve.config import ServeConfig
from jobs.serve.server import ExposureError, check_exposure, is_loopback
from tests.serve.conftest import Api, running

LIMITS = {
    "max_texts": 4,
    "max_pairs": 2,
    "max_text_chars": 50,
    "max_body_bytes": 4096,
    "queue_texts": 4,
    "retry_after_s": 7,
    "catalog_wait_s": 0.2,
    "titles_max_limit": 10,
    "titles_limit": 5,
}


@pytest.fixture(scope="module")
def small(models: Any, views_wh: Warehouse) -> Iterator[Api]:
    with running(models, views_wh, **LIMITS) as a:
        yield a


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    """The response is the documented JSON error, with no trace of Python inside."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error", "detail"} and body["error"]
    assert "Traceback" not in r.text and 'File "' not in r.text
    return body


def said(r: httpx.Response, status: int) -> str:
    body = problem(r, status)
    return " | ".join([body["error"], *body["detail"]])


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ({"texts": ["a"] * 5}, "texts: List should have at most 4 items"),
        ({"texts": []}, "texts: List should have at least 1 item"),
        ({"texts": ["ok", "x" * 51]}, "texts[1]: String should have at most 50 characters"),
        ({"texts": ["ok", ""]}, "texts[1]: String should have at least 1 character"),
        ({"texts": "영화 좋아요"}, "texts: Input should be a valid list"),
        ({"texts": ["ok", 3]}, "texts[1]: Input should be a valid string"),
        ({"texts": [None]}, "texts[0]: Input should be a valid string"),
        ({"texts": ["ok"], "embedding": "yes"}, "embedding: Input should be a valid boolean"),
        ({"texts": ["ok"], "embeding": True}, "embeding: Extra inputs are not permitted"),
        ({"text": ["ok"]}, "texts: Field required"),
        (["ok"], "Input should be a valid dictionary"),
        (b'{"texts": ["\\ud800"]}', "texts[0]: Input should be a valid string"),
    ],
)
def test_predict_rejects_bad_input_with_a_message(small: Api, body: Any, expect: str) -> None:
    with small.client() as c:
        if isinstance(body, bytes):  # JSON text httpx would not produce (a lone surrogate)
            r = c.post("/v1/predict", content=body, headers={"content-type": "application/json"})
        else:
            r = c.post("/v1/predict", json=body)
    assert expect in said(r, 422)


@pytest.mark.parametrize(
    ("body", "expect"),
    [
        ({"pairs": [{"sentence1": "a", "sentence2": "b"}] * 3}, "at most 2 items"),
        ({"pairs": []}, "pairs: List should have at least 1 item"),
        ({"pairs": [["a", "b"]]}, "pairs[0]: Input should be a valid dictionary"),
        ({"pairs": [{"sentence1": "a"}]}, "pairs[0].sentence2: Field required"),
        ({"pairs": [{"sentence1": "a", "sentence2": "y" * 51}]}, "pairs[0].sentence2: String"),
    ],
)
def test_similarity_rejects_bad_input_with_a_message(small: Api, body: Any, expect: str) -> None:
    with small.client() as c:
        r = c.post("/v1/similarity", json=body)
    assert expect in said(r, 422)


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (b'{"texts": ["a",', "body: malformed JSON"),
        (b"", "body: a JSON body is required"),
        (b"\xff\xfe not utf-8", "body: malformed JSON"),
        (b">MG\xc0&", "body: malformed JSON (not UTF-8 text)"),  # found by schemathesis
        (b"null", "body: Input should be a valid dictionary"),
    ],
)
def test_malformed_bodies(small: Api, content: bytes, expect: str) -> None:
    with small.client() as c:
        r = c.post("/v1/predict", content=content, headers={"content-type": "application/json"})
    assert expect in said(r, 422)


def test_huge_bodies_are_refused_before_they_are_read(small: Api) -> None:
    big = b'{"texts": ["' + b"x" * 10_000 + b'"]}'
    with small.client() as c:
        declared = c.post("/v1/predict", content=big, headers={"content-type": "application/json"})

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(10_000):
                yield b"x" * 1000

        chunked = c.post("/v1/predict", content=chunks())
        assert c.get("/healthz").status_code == 200  # the server is fine afterwards
    for r in (declared, chunked):
        assert said(r, 413) == "request body too large: the limit is 4096 bytes"


@pytest.mark.parametrize(
    ("params", "expect"),
    [
        ({"limit": 0}, "query parameter limit: Input should be greater than or equal to 1"),
        ({"limit": 11}, "query parameter limit: Input should be less than or equal to 10"),
        ({"limit": "many"}, "query parameter limit: Input should be a valid integer"),
        ({"offset": -1}, "query parameter offset"),
        ({"scope": "cgv"}, "query parameter scope: Input should be 'all', 'naver' or 'watcha'"),
        ({"q": "a\x00b"}, "query parameter q: String should match pattern"),
    ],
)
def test_title_query_parameters_are_checked(small: Api, params: dict, expect: str) -> None:
    with small.client() as c:
        r = c.get("/v1/titles", params=params)
    assert expect in said(r, 422)


def test_title_page_size_default_from_config(small: Api) -> None:
    with small.client() as c:
        assert c.get("/v1/titles").json()["limit"] == 5


def test_full_queue_answers_503_with_retry_after(small: Api) -> None:
    gate = threading.Event()
    small.app.state.executor.submit(gate.wait)  # the model thread is busy
    batcher = small.batcher()
    first: dict[str, httpx.Response] = {}

    def fill() -> None:
        with small.client() as c:
            first["r"] = c.post("/v1/predict", json={"texts": ["a", "b", "c", "d"]})

    t = threading.Thread(target=fill)
    t.start()
    try:
        deadline = time.monotonic() + 30
        while batcher.queued < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert batcher.queued == 4  # the queue holds queue_texts = 4 texts
        with small.client() as c:
            r = c.post("/v1/predict", json={"texts": ["one more"]})
            ready = c.get("/readyz").json()
        body = problem(r, 503)
        assert r.headers["retry-after"] == "7"
        assert body["error"] == "server busy: 4 texts queued, 1 more would exceed the limit of 4"
        assert ready["queued"]["predict"] == 4
    finally:
        gate.set()
        t.join(30)
    assert first["r"].status_code == 200 and len(first["r"].json()["results"]) == 4
    with small.client() as c:  # drained: accepted again
        assert c.post("/v1/predict", json={"texts": ["one more"]}).status_code == 200
    assert batcher.queued == 0 and batcher.stats.rejected >= 1


def test_internal_errors_say_nothing_about_the_code(
    small: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(titles, "list_titles", broken)
    with small.client() as c:
        r = c.get("/v1/titles")
    assert said(r, 500) == "internal error (logged on the server)"
    assert "secret" not in r.text and "RuntimeError" not in r.text


HOLD_WRITER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(60)
"""


def test_a_running_writer_means_503_for_titles_while_predict_serves(small: Api) -> None:
    wh_catalog = _catalog_of(small)
    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITER, wh_catalog], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "held"
        with small.client() as c:
            busy = c.get("/v1/titles/t1")
            ready = c.get("/readyz")
            scored = c.post("/v1/predict", json={"texts": ["영화 좋아요"]})
        body = said(busy, 503)
        assert body.startswith("the catalog is busy: another program, python")
        assert f"(pid {writer.pid})" in body and "/" not in body  # no server path
        assert busy.headers["retry-after"] == "7"
        assert ready.status_code == 200 and ready.json()["checks"]["warehouse"].startswith("busy")
        assert scored.status_code == 200
    finally:
        writer.kill()
        writer.wait()
    with small.client() as c:
        assert c.get("/v1/titles/t1").status_code == 200


WRITE = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
con.execute("CREATE OR REPLACE TABLE serve_probe AS SELECT 1 AS x")
con.close()
"""


def test_the_server_holds_no_connection_between_requests(small: Api) -> None:
    """The nightly writer (another process) can open the catalog while the server runs."""
    with small.client() as c:
        for path in ("/v1/titles", "/v1/titles/t1", "/readyz"):
            assert c.get(path).status_code == 200
    done = subprocess.run(
        [sys.executable, "-c", WRITE, _catalog_of(small)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def _catalog_of(api: Api) -> str:
    return str(api.app.state.warehouse.catalog)


def test_no_catalog_means_not_ready_and_503(models: Any, tmp_path: Path) -> None:
    with running(models, Warehouse(tmp_path / "empty")) as a, a.client() as c:
        ready = c.get("/readyz")
        listed = c.get("/v1/titles")
        scored = c.post("/v1/predict", json={"texts": ["영화 좋아요"]})
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert ready.json()["checks"]["warehouse"] == "no catalog yet"
    assert said(listed, 503) == (
        "the warehouse has no catalog yet | a pipeline run on the server creates it"
    )
    assert str(tmp_path) not in ready.text + listed.text  # no server path in a body
    assert scored.status_code == 200  # the models serve regardless


def test_api_key_guards_v1_but_not_the_probes(models: Any, views_wh: Warehouse) -> None:
    with running(models, views_wh, api_key="s3cret-key") as a, a.client() as c:
        none = c.get("/v1/titles")
        wrong = c.post("/v1/predict", json={"texts": ["a"]}, headers={"X-API-Key": "nope"})
        right = c.get("/v1/titles", headers={"X-API-Key": "s3cret-key"})
        health = c.get("/healthz")
        doc = c.get("/openapi.json").json()
    for r in (none, wrong):
        assert said(r, 401) == "missing or wrong X-API-Key header"
    assert right.status_code == 200 and health.status_code == 200
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"


def test_exposure_guard() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "localhost", "::1", "127.0.0.2"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.0.10", "example.com"))
    check_exposure(ServeConfig())
    check_exposure(ServeConfig(host="0.0.0.0", api_key=SecretStr("k")))
    check_exposure(ServeConfig(host="0.0.0.0", insecure=True))
    with pytest.raises(ExposureError, match=r"refusing to serve on 0\.0\.0\.0 without an API key"):
        check_exposure(ServeConfig(host="0.0.0.0"))


def test_serve_refuses_a_public_host_without_a_key_before_loading(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "-w", str(tmp_path), "serve", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "kreview: config error: refusing to serve on 0.0.0.0 without an API key: set "
        "serve.api_key (KREVIEW_SERVE__API_KEY) so clients must send X-API-Key, or pass --insecure"
    )
    assert time.monotonic() - started < 60
    assert not (tmp_path / "models" / "current.json").exists()  # no model was installed


def test_config_section_validates_and_hides_the_key() -> None:
    from jobs.config import ConfigError, load_config

    cfg = load_config(env={"KREVIEW_SERVE__API_KEY": "k", "KREVIEW_SERVE__MAX_TEXTS": "8"})
    assert cfg.serve.max_texts == 8 and cfg.serve.api_key is not None
    assert cfg.model_dump(mode="json")["serve"]["api_key"] == "**********"
    with pytest.raises(ConfigError, match="serve: Value error, queue_texts must hold"):
        load_config(env={"KREVIEW_SERVE__QUEUE_TEXTS": "3"})
    with pytest.raises(ConfigError, match=r"serve\.port"):
        load_config(env={"KREVIEW_SERVE__PORT": "70000"})
