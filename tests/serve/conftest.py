"""A tiny joint model (trained once per session), a small warehouse with hand-checkable views,
and real uvicorn servers on 127.0.0.1, port 0, in a thread."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.warehouse import Warehouse
from jobs.config import load_config
from jobs.serve.config import ServeConfig
from models.config import ScoringConfig
from tests.etl import warehouse_fixture as fx


@pytest.fixture(scope="session")
def models_root(tmp_path_factory: pytest.TempPathFactory, one_torch_thread_session: None) -> Path:
    """A warehouse root whose registry holds a current tiny joint model (no catalog)."""
    from tests.models.scoring_fixture import train_joint

    root = tmp_path_factory.mktemp("serve_models")
    cfg = load_config(env={}, overrides={"warehouse.root": root / "wh"})
    train_joint(cfg, root / "data")
    return root / "wh"


@pytest.fixture(scope="session")
def models(models_root: Path) -> Any:
    from models.scoring.batch import load_models

    # as `kreview serve` and `kreview predict` load them (the configured precision included)
    return load_models(models_root / "models", ScoringConfig(device="cpu"))


@pytest.fixture(scope="session")
def views_wh(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    """tests/etl/warehouse_fixture: titles t1 (괴물, 4 reviews, 2 clusters) and t2 (곡성)."""
    return fx.build(tmp_path_factory.mktemp("serve_views") / "wh")


@dataclass
class Api:
    app: Any
    url: str
    cfg: ServeConfig

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60.0, **kwargs)

    def batcher(self, name: str = "predict") -> Any:
        return self.app.state.batchers[name]


@contextmanager
def running(models: Any, wh: Warehouse, **settings: Any) -> Iterator[Api]:
    """A real server on 127.0.0.1 with ``settings`` as its [serve] section."""
    from jobs.serve.app import create_app
    from jobs.serve.server import ServerThread

    cfg = ServeConfig(**{"host": "127.0.0.1", "port": 0, **settings})
    app = create_app(models, wh, cfg, ScoringConfig(device="cpu"))
    with ServerThread(app, cfg) as srv:
        yield Api(app, srv.url, cfg)


@pytest.fixture(scope="module")
def api(models: Any, views_wh: Warehouse) -> Iterator[Api]:
    """Default limits."""
    with running(models, views_wh) as a:
        yield a
