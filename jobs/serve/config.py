"""Configuration of `kreview serve` (the ``[serve]`` section)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from core.frozen import Frozen


class ServeConfig(Frozen):
    # Loopback by default; any other address needs api_key (or --insecure).
    host: str = Field(default="127.0.0.1", min_length=1)
    # 0 = any free port (the chosen one is printed).
    port: int = Field(default=8000, ge=0, le=65535)
    # Clients send it as the X-API-Key header on /v1/*; health probes need none.
    api_key: SecretStr | None = None
    # Serve on a non-loopback host without an api_key (only behind something that checks).
    insecure: bool = False
    # Limits of one request.
    max_texts: int = Field(default=64, ge=1, le=10_000)
    max_pairs: int = Field(default=32, ge=1, le=10_000)
    max_text_chars: int = Field(default=2000, ge=1, le=100_000)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Texts accepted but not yet answered (queued or in the encoder), per endpoint; beyond it
    # requests get 503 with Retry-After instead of waiting without bound.
    queue_texts: int = Field(default=1024, ge=1)
    retry_after_s: int = Field(default=1, ge=1)
    # Micro-batching: the worker takes up to batch_size texts from the queue, waiting at most
    # batch_wait_ms for more to arrive, then runs one encoder pass over all of them.
    batch_size: int = Field(default=64, ge=1)
    batch_wait_ms: float = Field(default=5.0, ge=0.0, le=1000.0)
    # Title endpoints open the catalog read-only per request and wait this long for a
    # running writer before answering 503 (the nightly run must never wait on the server).
    catalog_wait_s: float = Field(default=1.0, ge=0.0)
    # Title list page size: default and maximum.
    titles_limit: int = Field(default=50, ge=1)
    titles_max_limit: int = Field(default=500, ge=1)
    # uvicorn: connections beyond this get 503 at once.
    max_connections: int = Field(default=256, ge=1)
    # One log line per request (uvicorn's access log).
    access_log: bool = True
    log_level: str = Field(default="info", pattern="^(critical|error|warning|info|debug|trace)$")

    @model_validator(mode="after")
    def _limits_agree(self) -> ServeConfig:
        if self.queue_texts < max(self.max_texts, 2 * self.max_pairs):
            raise ValueError(
                "queue_texts must hold at least one full request (max_texts, 2 × max_pairs)"
            )
        if self.titles_limit > self.titles_max_limit:
            raise ValueError("titles_limit must not exceed titles_max_limit")
        return self
