"""Typed, frozen configuration: one TOML file, `KREVIEW_*` environment variables, CLI flags.

Precedence (later wins): built-in defaults < TOML file < environment < command-line flags.
Environment variables name a key as ``KREVIEW_<SECTION>__<KEY>`` (double underscore between
levels), e.g. ``KREVIEW_WAREHOUSE__ROOT=/data/kreview`` or
``KREVIEW_SOURCES__WATCHA__BASE_URL=http://127.0.0.1:8080``.

A bad value raises :class:`ConfigError` whose message is one line naming the key; the CLI turns
it into exit code 2 without a traceback.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from core.errors import UsageError
from core.frozen import Frozen
from etl.clean_config import CleanConfig
from etl.export_config import ExportConfig
from etl.report.config import ReportConfig
from etl.scrape_config import ScrapeConfig, SourcesConfig
from jobs.schedule_config import ScheduleConfig
from jobs.serve.config import ServeConfig
from models.config import ModelsConfig, ScoringConfig

ENV_PREFIX = "KREVIEW_"
CONFIG_ENV = "KREVIEW_CONFIG"
DEFAULT_CONFIG_NAME = "kreview.toml"


class ConfigError(UsageError, ValueError):
    """A configuration value is missing, malformed or out of range (one line, names the key)."""

    prefix = "config error: "


class WarehouseConfig(Frozen):
    root: Path = Path("warehouse")
    # Short read-only commands wait this long for a running writer before giving up (and a
    # run waits as long for another process to close the catalog).
    read_wait_s: float = 5.0

    @field_validator("root", mode="before")
    @classmethod
    def _not_empty(cls, value: object) -> object:
        # Path("") is ".": an empty --warehouse or KREVIEW_WAREHOUSE__ROOT= would silently
        # make the current directory the warehouse.
        if isinstance(value, str) and not value.strip():
            raise ValueError("the warehouse path is empty")
        return value


class AppConfig(Frozen):
    warehouse: WarehouseConfig = WarehouseConfig()
    sources: SourcesConfig = SourcesConfig()
    scrape: ScrapeConfig = ScrapeConfig()
    clean: CleanConfig = CleanConfig()
    models: ModelsConfig = ModelsConfig()
    scoring: ScoringConfig = ScoringConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    export: ExportConfig = ExportConfig()
    report: ReportConfig = ReportConfig()
    serve: ServeConfig = ServeConfig()


def find_config_file(explicit: Path | None, env: Mapping[str, str]) -> Path | None:
    """The file to read: ``--config``, else ``$KREVIEW_CONFIG``, else ``./kreview.toml`` if any."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigError(f"config file not found: {explicit}")
        return explicit
    if env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from ${CONFIG_ENV})")
        return path
    default = Path(DEFAULT_CONFIG_NAME)
    return default if default.is_file() else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x}); save the file as "
            "UTF-8 (e.g. `iconv -f cp949 -t utf-8`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Nested dict from ``KREVIEW_SECTION__KEY=value`` variables (values stay strings;
    pydantic coerces them to the declared type and reports the key when it cannot)."""
    out: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_ENV or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        if any(not p for p in parts):
            raise ConfigError(f"environment variable {name}: empty key segment")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"environment variable {name}: conflicts with another variable")
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def dotted_to_nested(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``{"scrape.max_per_title": 50}`` -> ``{"scrape": {"max_per_title": 50}}``; skips None."""
    out: dict[str, Any] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _one_line(exc: ValidationError, origin: str) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"]) or "(root)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    shown = err.get("input")
    got = "" if err["type"] in ("extra_forbidden", "missing") else f" (got {shown!r})"
    more = len(exc.errors()) - 1
    tail = f"; and {more} more problem{'s' if more > 1 else ''}" if more else ""
    return f"{key}: {msg}{got} [{origin}]{tail}"


def load_config(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AppConfig:
    """Build the validated configuration. ``overrides`` uses dotted keys (CLI flags)."""
    env = os.environ if env is None else env
    file = find_config_file(path, env)
    data: dict[str, Any] = _read_toml(file) if file else {}
    origin = str(file) if file else "defaults"
    from_env = env_overrides(env)
    if from_env:
        data = deep_merge(data, from_env)
        origin += " + KREVIEW_* environment"
    if overrides:
        data = deep_merge(data, dotted_to_nested(overrides))
        origin += " + command line"
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, origin)) from None
