"""The FastAPI application: built from loaded models, a warehouse and a ServeConfig.

    app = create_app(models, Warehouse(root), cfg.serve, cfg.scoring)

Endpoints: ``POST /v1/predict``, ``POST /v1/similarity``, ``GET /v1/titles``,
``GET /v1/titles/{title_id}``, ``GET /healthz``, ``GET /readyz``, ``GET /openapi.json`` (and
``/docs``). Every error is JSON ``{"error": …, "detail": […]}`` naming what is wrong; nothing
sends a stack trace. The model runs in one dedicated thread fed by two micro-batchers (see
batcher.py), so the event loop stays free and the model never runs twice at once.
"""

# No `from __future__ import annotations` here: FastAPI resolves the endpoints' annotations at
# runtime, and the request models are classes local to create_app (built from the limits).

import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

import duckdb
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.catalog import CatalogBusy, CatalogMissing
from core.warehouse import Warehouse
from etl.sources.table import SCOPES
from jobs.serve import titles
from jobs.serve.batcher import BatcherClosed, MicroBatcher, QueueFull
from jobs.serve.config import ServeConfig
from jobs.serve.limits import BodySizeLimit, describe_errors
from jobs.serve.schemas import (
    Health,
    PredictResponse,
    Problem,
    Ready,
    SimilarityResponse,
    TitleDetail,
    TitleList,
    request_models,
)
from models.config import ScoringConfig
from models.registry.bundle import LoadedModels
from models.scoring.predict import predict_records, similarity_records

log = logging.getLogger("kreview.serve")
API_KEY_HEADER = "X-API-Key"
# Title ids and search strings reach DuckDB as bound parameters; NUL is the one character a
# VARCHAR parameter cannot carry, so it is refused with a 422 instead of failing inside.
NO_NUL = r"^[^\x00]*$"
FASTAPI_UNPARSEABLE_BODY = "There was an error parsing the body"


class ModelRunner:
    """What the model thread runs: the same functions as `kreview predict` / `similarity`."""

    def __init__(self, models: LoadedModels, scoring: ScoringConfig) -> None:
        self.models = models
        self.batch_size = scoring.batch_size
        self.top_k = scoring.top_emotions

    def predict(self, items: Sequence[tuple[str, bool]]) -> list[dict[str, Any]]:
        """``items``: (text, with_embedding). One encoder pass for the whole batch; the
        embedding is computed if any request asked for it and dropped for the others."""
        texts = [text for text, _ in items]
        with_embedding = any(wants for _, wants in items)
        records = list(
            predict_records(
                self.models,
                texts,
                batch_size=self.batch_size,
                top_k=self.top_k,
                with_embedding=with_embedding,
            )
        )
        for rec, (_, wants) in zip(records, items, strict=True):
            if not wants:
                rec.pop("embedding", None)
        return records

    def similarity(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        return list(similarity_records(self.models, list(pairs), batch_size=self.batch_size))


def problem(status: int, error: str, detail: Sequence[str] = (), **headers: str) -> JSONResponse:
    body = Problem(error=error, detail=list(detail)).model_dump()
    return JSONResponse(body, status_code=status, headers=headers or None)


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "missing or wrong API key"},
    413: {"model": Problem, "description": "request body too large"},
    422: {"model": Problem, "description": "invalid request: the detail says what is wrong"},
    503: {"model": Problem, "description": "busy or not ready; see Retry-After"},
}


def _api_key_check(expected: str | None) -> list[Any]:
    """Dependencies of /v1/*: none without a key, else the X-API-Key header must match."""
    if expected is None:
        return []
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)
    want = expected.encode("utf-8")

    async def check(key: Annotated[str | None, Security(header)]) -> None:
        if key is None or not secrets.compare_digest(key.encode("utf-8", "replace"), want):
            raise HTTPException(
                401, f"missing or wrong {API_KEY_HEADER} header", {"WWW-Authenticate": "ApiKey"}
            )

    return [Depends(check)]


def create_app(
    models: LoadedModels,
    wh: Warehouse,
    cfg: ServeConfig | None = None,
    scoring: ScoringConfig | None = None,
) -> FastAPI:
    cfg = cfg or ServeConfig()
    runner = ModelRunner(models, scoring or ScoringConfig())
    PredictRequest, SimilarityRequest = request_models(cfg)
    retry = str(cfg.retry_after_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kreview-model")
        wait = cfg.batch_wait_ms / 1000
        app.state.executor = executor
        app.state.batchers = {
            "predict": MicroBatcher(
                runner.predict,
                executor,
                max_batch=cfg.batch_size,
                max_wait_s=wait,
                max_queued=cfg.queue_texts,
                name="predict",
            ),
            "similarity": MicroBatcher(
                runner.similarity,
                executor,
                # a pair is two texts through the encoder
                max_batch=max(1, cfg.batch_size // 2),
                max_wait_s=wait,
                max_queued=max(1, cfg.queue_texts // 2),
                name="similarity",
            ),
        }
        for batcher in app.state.batchers.values():
            batcher.start()
        try:
            yield
        finally:
            for batcher in app.state.batchers.values():
                await batcher.stop()
            executor.shutdown(wait=True, cancel_futures=True)

    app = FastAPI(
        title="kreview",
        summary="Scores of Korean reviews: the current models and the warehouse's views.",
        version="1",
        lifespan=lifespan,
        redoc_url=None,
    )
    app.state.warehouse = wh
    app.add_middleware(BodySizeLimit, max_bytes=cfg.max_body_bytes)
    v1 = APIRouter(prefix="/v1", responses=ERRORS, dependencies=_api_key_check(_secret(cfg)))

    def batcher(request: Request, name: str) -> MicroBatcher:
        return request.app.state.batchers[name]

    @v1.post(
        "/predict",
        response_model=PredictResponse,
        summary="Score texts: the records of `kreview predict`",
    )
    async def predict(request: Request, body: PredictRequest) -> JSONResponse:  # type: ignore[valid-type]
        items = [(text, body.embedding) for text in body.texts]  # type: ignore[attr-defined]
        records = await batcher(request, "predict").submit(items)
        return JSONResponse({"results": records})

    @v1.post(
        "/similarity",
        response_model=SimilarityResponse,
        summary="KLUE-STS similarity (0–5) and a same/different verdict per pair",
    )
    async def similarity(request: Request, body: SimilarityRequest) -> JSONResponse:  # type: ignore[valid-type]
        pairs = [(p.sentence1, p.sentence2) for p in body.pairs]  # type: ignore[attr-defined]
        records = await batcher(request, "similarity").submit(pairs)
        return JSONResponse({"results": records})

    @v1.get("/titles", response_model=TitleList, summary="Titles with their scores")
    def list_titles(
        scope: Annotated[
            Literal[SCOPES],  # type: ignore[valid-type]  # 'all' or a source of the table
            Query(description="all sources or one"),
        ] = "all",
        q: Annotated[
            str, Query(max_length=200, pattern=NO_NUL, description="substring of the title")
        ] = "",
        limit: Annotated[int, Query(ge=1, le=cfg.titles_max_limit)] = cfg.titles_limit,
        offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
    ) -> dict[str, Any]:
        return titles.list_titles(
            wh, scope=scope, q=q, limit=limit, offset=offset, wait_s=cfg.catalog_wait_s
        )

    @v1.get(
        "/titles/{title_id}",
        response_model=TitleDetail,
        responses={404: {"model": Problem, "description": "no such title"}},
        summary="One title: scores per scope, its 44 emotions and its clusters",
    )
    def get_title(
        title_id: Annotated[str, Path(max_length=500, pattern=NO_NUL)],
    ) -> dict[str, Any]:
        found = titles.title_detail(wh, title_id, wait_s=cfg.catalog_wait_s)
        if found is None:
            raise HTTPException(404, f"no title {title_id!r} in the views")
        return found

    app.include_router(v1)

    @app.get("/healthz", response_model=Health, summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        response_model=Ready,
        responses={503: {"model": Ready, "description": "not ready"}},
        summary="Readiness: models loaded and batching, warehouse readable",
    )
    async def readyz(request: Request) -> JSONResponse:
        batchers = getattr(request.app.state, "batchers", {})
        running = bool(batchers) and all(b.running for b in batchers.values())
        checks = {"models": "ok" if running else "not running"}
        checks["warehouse"] = await run_in_threadpool(_warehouse_check, wh, cfg.catalog_wait_s)
        # A writer holding the catalog (the nightly run) is a pause, not a failure: the
        # models keep serving and the title endpoints answer 503 + Retry-After meanwhile.
        ready = running and checks["warehouse"].startswith(("ok", "busy"))
        body = Ready(
            ready=ready,
            checks=checks,
            queued={name: b.queued for name, b in batchers.items()},
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    _install_error_handlers(app, retry)
    return app


def _secret(cfg: ServeConfig) -> str | None:
    return cfg.api_key.get_secret_value() if cfg.api_key is not None else None


def _warehouse_check(wh: Warehouse, wait_s: float) -> str:
    try:
        titles.check_readable(wh, wait_s=wait_s)
    except CatalogMissing:
        return "no catalog yet"  # no server path in a response body
    except CatalogBusy as exc:
        return f"busy: {exc}"
    except duckdb.Error as exc:
        return f"unreadable: {type(exc).__name__}"
    return "ok"


def _install_error_handlers(app: FastAPI, retry: str) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid request", describe_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == FASTAPI_UNPARSEABLE_BODY:
            # FastAPI's answer to a body that is not even text (bad UTF-8): bad input, a 422
            return problem(422, "invalid request", ["body: malformed JSON (not UTF-8 text)"])
        headers = dict(exc.headers or {})
        return problem(exc.status_code, str(exc.detail), **headers)

    @app.exception_handler(QueueFull)
    async def queue_full(_: Request, exc: QueueFull) -> JSONResponse:
        return problem(503, str(exc), **{"Retry-After": retry})

    @app.exception_handler(BatcherClosed)
    async def closed(_: Request, exc: BatcherClosed) -> JSONResponse:
        return problem(503, str(exc), **{"Retry-After": retry})

    # Bodies name the holder of a busy catalog, never a server path (those stay in the log).
    @app.exception_handler(CatalogBusy)
    async def busy(_: Request, exc: CatalogBusy) -> JSONResponse:
        return problem(503, str(exc), **{"Retry-After": retry})

    @app.exception_handler(CatalogMissing)
    async def missing(_: Request, exc: CatalogMissing) -> JSONResponse:
        return problem(
            503, "the warehouse has no catalog yet", ["a pipeline run on the server creates it"]
        )

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # Logged with its traceback on the server; the client learns only that it failed.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal error (logged on the server)")
