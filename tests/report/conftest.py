"""Fixtures of the report tests: the report warehouse (tests/report/fixture.py), built once
per module, and a report of it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from etl.report.build import ReportResult, build_report
from jobs.config import AppConfig, load_config
from jobs.warehouse import Warehouse
from tests.report import fixture


@pytest.fixture(scope="module")
def report_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "wh"
    fixture.build(load_config(env={}, overrides={"warehouse.root": root}))
    return root


@pytest.fixture
def rcfg(report_template: Path, tmp_path: Path, clean_env: None) -> AppConfig:
    """Config of a fresh copy of the report warehouse."""
    root = tmp_path / "wh"
    shutil.copytree(report_template, root, symlinks=True)
    return load_config(env={}, overrides={"warehouse.root": root})


@pytest.fixture(scope="module")
def built(report_template: Path) -> ReportResult:
    """One report of the template warehouse (read-only for the tests that use it)."""
    cfg = load_config(env={}, overrides={"warehouse.root": report_template})
    return build_report(Warehouse(report_template), cfg.report)
