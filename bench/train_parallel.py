"""Training throughput of the whole machine: one run on every core against one run per core,
side by side (each on one thread).

A training run scales poorly with its threads (small matrices, a batch of 32: threads wait
on each other), so independent runs, one per core, may train more examples in the same time
than one run on every core (on the 2-core machine of 2026-12-07: 1.30x, docs/BENCHMARKS.md).
Each configuration starts its processes of
``bench.train_throughput`` (the real base, real NSMC batches, the optimizer step and all)
together, lets them all load first (``--start-at``), so that they time the same stretch, and
adds their examples/s. The baseline is the first line: one run on every core's thread.

    .venv/bin/python -m bench.train_parallel [--steps 40] [--mode "lora r=16 layers 4-11"]

Needs the bootstrapped base (`kreview models bootstrap`) and an otherwise idle machine (pause
running trainings with SIGSTOP).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from models.precision import cpu_has_bf16

LOAD_S = 60.0  # what loading the base and tokenizing takes, with room (about 15 s here)


def run(processes: int, threads: int, mode: str, steps: int, extra: list[str]) -> list[float]:
    """Examples/s of each of ``processes`` runs of bench.train_throughput started together."""
    start_at = time.time() + LOAD_S
    cmd = [
        *(sys.executable, "-m", "bench.train_throughput", "--modes", mode),
        *("--threads", str(threads), "--steps", str(steps), "--start-at", f"{start_at:.3f}"),
        *extra,
    ]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(processes)
    ]
    rates = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"bench.train_throughput exited {p.returncode}:\n{out}")
        for line in out.splitlines():
            if line.startswith("started"):
                print(f"  warning: {line}")
            if line.startswith(mode):
                rates.append(float(line[len(mode) :].split()[2]))  # trainable, steps, ex/s
    if len(rates) != processes:  # a total over fewer runs than started would be a wrong figure
        raise SystemExit(f"read {len(rates)} rates of {processes} runs of mode {mode!r}")
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # what `kreview train` does: bf16 autocast only where the CPU has native bf16
    default = "lora r=16 layers 4-11" + (" bf16" if cpu_has_bf16() else "")
    ap.add_argument("--mode", default=default, help=f"a mode of bench.train_throughput ({default})")
    ap.add_argument("--steps", type=int, default=40, help="timed steps per run")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    extra = ["--batch-size", str(args.batch_size), "--max-length", str(args.max_length)]
    configs = [(1, cores), (1, 1), (cores, 1)]
    print(
        f"{args.mode}, batch {args.batch_size}, max_length {args.max_length}, {args.steps} "
        f"timed steps a run, {cores} cores"
    )
    print(f"{'runs x threads':<16} {'ex/s each':<24} {'ex/s total':>10} {'x base':>7}")
    base = None
    for processes, threads in configs:
        rates = run(processes, threads, args.mode, args.steps, extra)
        total = sum(rates)
        base = base or total
        each = ", ".join(f"{r:.1f}" for r in rates)
        print(f"{f'{processes} x {threads}':<16} {each:<24} {total:>10.1f} {total / base:>7.2f}")


if __name__ == "__main__":
    main()
