"""`make gpu-check` (issue 20 part 6): what a machine with a CUDA GPU has to show, in one run of at
most 8 minutes, printed ready to paste into docs/BENCHMARKS.md.

1. bootstrap: the base encoder and the shipped default model into a temporary warehouse
   (``kreview models bootstrap``, offline), used by every part below;
2. gpu tests: ``pytest -m gpu tests/gpu``: CUDA scores against CPU fp32 scores on 1,000 NSMC
   test texts, the out-of-memory back-off, ``kreview score --device cuda`` against a CPU run;
3. CUDA sweep: ``python -m bench.score --cuda-sweep``: reviews/s and peak GPU memory at batch
   sizes 64-1024, fp16 and bf16 autocast, with and without length sorting;
4. training: ``kreview train sentiment`` for 1,000 steps on the GPU (NSMC train data): wall time
   and steps/s.

Each part runs in its own process group under a time limit: what is left of the budget less what
the parts after it are guaranteed (their own limits below), so a fast part leaves time to the
slow ones. A part that runs out of time is killed and reported, and the parts after it still run.

Exit status: 0 when every part passed; 1 when a gpu test failed or was skipped (with a GPU
present a skip means a missing input), or a part failed or ran out of time; 2 when there is no
CUDA device (one line on stderr, nothing else runs).

    .venv/bin/python -m bench.gpu_check [--budget 480] [--texts 20000] [--steps 1000]
        [--data ../shared/data] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIGURE = "gpu-check:"  # the tests print their figures on lines that carry this
# Seconds each part is guaranteed (a part before it may not eat into them) in the 480 s budget,
# scaled with --budget. They add up to 470; on an H100/H200-class GPU each part should take well
# under half of its own (an estimate: no GPU has run this yet).
LIMITS = {"bootstrap": 90, "gpu tests": 180, "CUDA sweep": 90, "training": 110}


@dataclass
class Part:
    name: str
    cmd: list[str]
    limit: float = 0.0
    rc: int | None = None  # None: not run
    seconds: float = 0.0
    timed_out: bool = False
    why_not_run: str = ""
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def status(self) -> str:
        if self.rc is None:
            return f"not run: {self.why_not_run}"
        if self.timed_out:
            return f"timed out after {self.seconds:.0f} s (limit {self.limit:.0f} s)"
        return "ok" if self.rc == 0 else f"failed (exit {self.rc})"


def no_cuda() -> str | None:
    """One line saying why there is no CUDA device to check (None: there is one)."""
    try:
        import torch
    except ImportError:
        return "gpu-check: torch is not installed (make setup)"
    if torch.cuda.is_available():
        return None
    if torch.version.cuda is None:
        why = f"torch {torch.__version__} is a CPU-only build"
        if shutil.which("nvidia-smi") and _quiet_ok(["nvidia-smi", "-L"]):
            why += (
                " although nvidia-smi sees a GPU (make setup keeps an installed torch:"
                " .venv/bin/pip uninstall -y torch && rm .venv/.kreview-installed && make setup)"
            )
    else:
        why = f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA device"
    return f"gpu-check: no CUDA device available: {why}; nothing to check"


def _quiet_ok(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _output(cmd: list[str]) -> str:
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=10, check=False, cwd=REPO)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


def environment() -> dict[str, str]:
    """GPU, driver, library versions, commit and date, for the figures' heading."""
    import accelerate
    import torch
    import transformers

    # nvidia-smi, not torch: the parent should not hold a CUDA context of its own for 8 minutes
    smi = _output(
        ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"]
    )
    if smi:
        name, memory, driver = (x.strip() for x in smi.splitlines()[0].split(",")[:3])
        gpu = f"{name} ({memory}, driver {driver}"
    else:
        gpu = f"{torch.cuda.get_device_name(0)} (no nvidia-smi"
    gpu += f", {torch.cuda.device_count()} visible)"
    commit = _output(["git", "rev-parse", "--short", "HEAD"]) or "unknown"
    if _output(["git", "status", "--porcelain", "--untracked-files=no"]):
        commit += " + local changes"
    cudnn = torch.backends.cudnn.version()
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "gpu": gpu,
        "software": (
            f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {cudnn}),"
            f" transformers {transformers.__version__}, accelerate {accelerate.__version__},"
            f" Python {platform.python_version()}"
        ),
        "host": f"{platform.node()}, {os.cpu_count()} CPUs",
        "commit": commit,
    }


def _kill(proc: subprocess.Popen[str]) -> None:
    """The part's whole process group (pytest's `kreview` children too): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run(part: Part, env: dict[str, str]) -> None:
    """Run ``part.cmd`` under ``part.limit`` seconds, echoing and keeping its output."""
    print(f"\n== {part.name} (limit {part.limit:.0f} s): {shlex.join(part.cmd)}", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        part.cmd,
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # its own process group, killed as one
    )

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            part.lines.append(line.rstrip("\n"))
            sys.stdout.write(line)
            sys.stdout.flush()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        part.rc = proc.wait(timeout=part.limit)
    except subprocess.TimeoutExpired:
        part.timed_out = True
        _kill(proc)
        part.rc = proc.wait()
    except BaseException:  # Ctrl-C: take the part down with us
        _kill(proc)
        raise
    finally:
        part.seconds = time.monotonic() - start
        reader.join(timeout=5)
    print(f"== {part.name}: {part.status()} in {part.seconds:.1f} s", flush=True)


def test_counts(xml: Path) -> dict[str, int] | None:
    """passed / failed / errors / skipped from pytest's JUnit XML (None: not written)."""
    try:
        root = ET.parse(xml).getroot()
    except (OSError, ET.ParseError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    total = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors")}
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    failed = total["failures"]
    return {
        "passed": total["tests"] - failed - total["errors"] - skipped,
        "failed": failed,
        "errors": total["errors"],
        "skipped": skipped,
    }


def training_figures(wh: Path) -> dict | None:
    """The ``training`` record of the newest sentiment version the training part registered."""
    configs = sorted((wh / "models" / "sentiment").glob("*/config.json"))
    if not configs:
        return None
    return json.loads(configs[-1].read_text("utf-8")).get("training")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=float, default=480.0, help="seconds for everything")
    ap.add_argument("--texts", type=int, default=20_000, help="NSMC test texts in the sweep")
    ap.add_argument("--steps", type=int, default=1000, help="training steps")
    ap.add_argument(
        "--data", type=Path, default=None, help="folder of nsmc/ (default: ../shared/data)"
    )
    ap.add_argument("--keep", action="store_true", help="keep the temporary warehouse")
    args = ap.parse_args(argv)

    why = no_cuda()
    if why is not None:
        print(why, file=sys.stderr)
        return 2
    started = time.monotonic()
    deadline = started + args.budget

    from bench.corpus import DATA

    data = (args.data or DATA).resolve()
    env = {
        **os.environ,
        "KREVIEW_DATA": str(data),  # bench.corpus (tests and sweep) reads NSMC from here
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    facts = environment()
    print(
        f"gpu-check {facts['date']}: {facts['gpu']}; {facts['software']}; host {facts['host']};"
        f" kreview {facts['commit']}; data {data}"
        + ("" if (data / "nsmc").is_dir() else " (MISSING: the tests skip, the rest fails)")
        + f"; budget {args.budget:.0f} s",
        flush=True,
    )
    tmp = Path(tempfile.mkdtemp(prefix="kreview-gpu-check-"))
    wh = tmp / "wh"
    py = sys.executable
    cli = [py, "-m", "jobs.cli", "--quiet", "--warehouse", str(wh)]
    junit = tmp / "gpu-tests.xml"
    parts = [
        Part("bootstrap", [*cli, "models", "bootstrap"]),
        Part(
            "gpu tests",
            [
                *[py, "-m", "pytest", "-m", "gpu", "tests/gpu", "-p", "no:cacheprovider"],
                *["-q", "-rfEsP", f"--junitxml={junit}"],
            ],
        ),
        Part(
            "CUDA sweep",
            [
                *[py, "-m", "bench.score", "--cuda-sweep"],
                *["--texts", str(args.texts), "--warehouse", str(wh)],
            ],
        ),
        Part(
            "training",
            [
                *cli,
                *["train", "sentiment", "--data", str(data / "nsmc" / "ratings_train.txt.gz")],
                *["--device", "cuda", "--max-steps", str(args.steps), "--limit", "40000"],
                *["--eval-limit", "5000", "--no-promote"],
            ],
        ),
    ]
    env["GPU_CHECK_MODELS_DIR"] = str(wh / "models")  # tests/gpu/conftest.py
    try:
        for i, part in enumerate(parts):
            if part.name in ("CUDA sweep", "training") and not parts[0].ok:
                part.why_not_run = "the bootstrap failed (no base encoder)"
                continue
            later = sum(LIMITS[p.name] for p in parts[i + 1 :]) * args.budget / 480
            part.limit = min(deadline - time.monotonic() - later, args.budget)
            if part.limit < 10:
                part.why_not_run = "the budget is spent"
                continue
            run(part, env)
        report(parts, facts, junit, wh, args, time.monotonic() - started)
        tests = test_counts(junit) if parts[1].rc is not None else None
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    tests_ok = tests is not None and tests["failed"] + tests["errors"] + tests["skipped"] == 0
    return 0 if all(p.ok for p in parts) and tests_ok else 1


def report(
    parts: list[Part],
    facts: dict[str, str],
    junit: Path,
    wh: Path,
    args: argparse.Namespace,
    total: float,
) -> None:
    """The figures, as Markdown to paste under "GPU check (make gpu-check)"."""
    boot, tests, sweep, train = parts
    print(f"\n\n### GPU check, {facts['date']}\n")
    print(f"{facts['gpu']}; {facts['software']}; host {facts['host']}; kreview {facts['commit']}.")
    print(f"`make gpu-check`: {total:.0f} s of the {args.budget:.0f} s budget.\n")
    print("| part | result | seconds (limit) |\n| --- | --- | ---: |")
    counts = test_counts(junit) if tests.rc is not None else None
    for p in parts:
        result = p.status()
        if p is tests and counts is not None:
            result += ": " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        print(f"| {p.name} | {result} | {p.seconds:.1f} ({p.limit:.0f}) |")
    if counts is not None and counts["skipped"]:
        print("\ngpu tests were skipped on a machine with CUDA: see the reasons above.")
    figures = [ln.split(FIGURE, 1)[1].strip() for ln in tests.lines if FIGURE in ln]
    if figures:
        print("\ngpu tests (`pytest -m gpu tests/gpu`):\n")
        for line in dict.fromkeys(figures):
            print(f"- {line}")
    if sweep.rc is not None:
        print(f"\nCUDA sweep (`python -m bench.score --cuda-sweep --texts {args.texts}`):\n")
        for line in sweep.lines:
            if line.startswith(("CUDA sweep", "|", "the scorer as", "  (no bf16")):
                print(line)
    if train.rc is not None:
        t = training_figures(wh) if train.ok else None
        cmd = f"kreview train sentiment --device cuda --max-steps {args.steps}"
        if t and t.get("train_seconds"):
            steps, seconds = int(t["steps"]), float(t["train_seconds"])
            print(
                f"\ntraining (`{cmd} --limit 40000 --eval-limit 5000 --no-promote`, NSMC train"
                f" data, batch {t.get('batch_size')}, LoRA, mixed precision"
                f" {t.get('mixed_precision')} on {t.get('device')}): {steps:,} steps in"
                f" {seconds:.1f} s of training = {steps / seconds:.1f} steps/s"
                f" ({t.get('examples_per_s')} examples/s); the command's wall time"
                f" {train.seconds:.1f} s ({steps / train.seconds:.1f} steps/s; data loading,"
                " model loading, validations, the held-out evaluation and the artifact included)"
            )
        else:
            print(f"\ntraining (`{cmd}`): {train.status()} after {train.seconds:.1f} s wall")
    if boot.rc is not None and not boot.ok:
        print(f"\nbootstrap {boot.status()}: see its output above.")


if __name__ == "__main__":
    sys.exit(main())
