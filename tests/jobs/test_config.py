from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from jobs.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "kreview.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_valid(clean_env: None) -> None:
    cfg = load_config(env={})
    assert cfg.scrape.max_concurrency_per_host == 2
    assert cfg.scrape.min_interval_s == 1.0
    assert (cfg.scrape.min_per_title, cfg.scrape.max_per_title) == (30, 150)
    assert cfg.schedule.timezone == "Asia/Seoul"
    assert cfg.warehouse.root == Path("warehouse")


def test_example_config_in_repo_is_valid() -> None:
    cfg = load_config(REPO / "kreview.example.toml", env={})
    assert cfg.schedule.nightly_cron == "0 3 * * *"


def test_precedence_file_env_flags(tmp_path: Path) -> None:
    path = write(tmp_path, "[scrape]\nmax_per_title = 100\nretries = 2\n[warehouse]\nroot = 'a'\n")
    env = {"KREVIEW_SCRAPE__MAX_PER_TITLE": "120", "KREVIEW_WAREHOUSE__ROOT": "b"}
    cfg = load_config(path, env=env, overrides={"warehouse.root": Path("c")})
    assert cfg.scrape.retries == 2  # file
    assert cfg.scrape.max_per_title == 120  # env beats file
    assert cfg.warehouse.root == Path("c")  # flag beats env


def test_nested_env_key_reaches_source_section() -> None:
    env = {"KREVIEW_SOURCES__WATCHA__API_BASE_URL": "http://127.0.0.1:9"}
    assert load_config(env=env).sources.watcha.api_base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("text", "env", "needle"),
    [
        ("[scrape]\nmax_per_title = -1\n", {}, "scrape.max_per_title"),
        ("[scrape]\nmin_per_title = 200\n", {}, "min_per_title must not exceed max_per_title"),
        ("[scrape]\nmax_per_titel = 5\n", {}, "scrape.max_per_titel: unknown key"),
        ("[schedule]\ntimezone = 'Mars/Olympus'\n", {}, "schedule.timezone"),
        ("[schedule]\nnightly_cron = '0 3 *'\n", {}, "schedule.nightly_cron"),
        ("[scoring]\ndevice = 'tpu'\n", {}, "scoring.device"),
        ("", {"KREVIEW_SCRAPE__RETRIES": "many"}, "scrape.retries"),
        ("[scrape\n", {}, "not valid TOML"),
    ],
)
def test_bad_values_name_the_key(tmp_path: Path, text: str, env: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), env=env)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_cli_bad_config_exits_2_with_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[scrape]\nmax_concurrency_per_host = 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.cli", "--config", str(path), "status"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "scrape.max_concurrency_per_host" in lines[0]
    assert "Traceback" not in proc.stderr
