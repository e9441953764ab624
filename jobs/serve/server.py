"""Running the app under uvicorn: in the foreground (`kreview serve`) or in a thread (tests,
benchmarks), and the guard against exposing the API without a key."""

from __future__ import annotations

import errno
import ipaddress
import signal
import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from core.errors import KreviewError, PortError
from jobs.serve.config import ServeConfig


class ExposureError(ValueError):
    """Binding beyond loopback without an API key (and without --insecure)."""


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def check_exposure(cfg: ServeConfig) -> None:
    """Refuse a non-loopback bind without ``api_key`` unless ``insecure`` is set."""
    if is_loopback(cfg.host) or cfg.api_key is not None or cfg.insecure:
        return
    raise ExposureError(
        f"refusing to serve on {cfg.host} without an API key: set serve.api_key "
        "(KREVIEW_SERVE__API_KEY) so clients must send X-API-Key, or pass --insecure"
    )


def check_port(cfg: ServeConfig) -> None:
    """Bind ``cfg.host:cfg.port`` once, as uvicorn will (SO_REUSEADDR), and let it go: a port
    in use is refused in a second, before the models load (exit 7, not 3: "busy" means the
    warehouse). Port 0 (any free one) always binds."""
    if cfg.port == 0:
        return
    try:
        infos = socket.getaddrinfo(cfg.host, cfg.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortError(f"cannot serve on {cfg.host}: {exc.strerror}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortError(
                    f"port {cfg.port} on {cfg.host} is in use by another program",
                    hint="stop it, or choose another port with --port; 0 picks a free one",
                ) from None
            raise PortError(
                f"cannot bind {cfg.host}:{cfg.port}: {exc.strerror}",
                hint="ports below 1024 need privileges; choose another with --port",
            ) from None


def uvicorn_config(app: Any, cfg: ServeConfig, **overrides: Any) -> uvicorn.Config:
    settings: dict[str, Any] = {
        "host": cfg.host,
        "port": cfg.port,
        "log_level": cfg.log_level,
        "access_log": cfg.access_log,
        "limit_concurrency": cfg.max_connections,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        **overrides,
    }
    return uvicorn.Config(app, **settings)


def serve_forever(app: Any, cfg: ServeConfig) -> list[int]:
    """Serve until SIGINT/SIGTERM; uvicorn stops accepting, drains open requests and runs the
    app's shutdown. Returns the signals that stopped it (call from the main thread)."""
    check_exposure(cfg)
    # uvicorn re-raises the stopping signal once it has shut down, so a default handler would
    # kill the process (status 143). A signal is how this server is meant to stop: note it
    # and return, so the command exits 0 like `kreview schedule`.
    seen: list[int] = []
    previous = {
        sig: signal.signal(sig, lambda got, _frame: seen.append(got))
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    server = uvicorn.Server(uvicorn_config(app, cfg))
    try:
        server.run()
    except SystemExit:
        # uvicorn exits (status 3) when the app's startup fails or it cannot bind (another
        # program took the port since check_port): the log line above says which.
        if server.started or getattr(server, "lifespan", None) is None:
            raise
        if server.lifespan.should_exit:
            raise KreviewError("the API did not start (the log line above says why)") from None
        raise PortError(
            f"cannot bind {cfg.host}:{cfg.port} (the log line above says why)"
        ) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return seen


class ServerThread:
    """uvicorn in a background thread on ``cfg.host`` (port 0 = a free one)::

    with ServerThread(app, cfg) as srv:
        httpx.get(f"{srv.url}/healthz")
    """

    def __init__(self, app: Any, cfg: ServeConfig, **overrides: Any) -> None:
        check_exposure(cfg)
        settings = {"log_level": "warning", **overrides}
        self.server = uvicorn.Server(uvicorn_config(app, cfg, **settings))
        self.thread = threading.Thread(target=self.server.run, name="kreview-serve", daemon=True)
        self.host = cfg.host

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 60.0) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server thread exited during startup")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the server did not start within {timeout_s:g}s")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
