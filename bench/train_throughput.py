"""Training throughput (examples/s) of the real base: LoRA against full fine-tuning, fp32
against bf16 autocast, all layers adapted against the upper ones only.

Every network trains on the same length-bucketed batches of real NSMC reviews (normalized as
the scorer sees them), with the optimizer step, gradient clipping and all. The modes run
in alternating blocks so that a CPU shared with other work slows all alike; the table shows
wall-clock examples/s, the ratio to the first mode (the baseline) and the CPU share the process
got (1.0 = every thread busy all along).

    .venv/bin/python -m bench.train_throughput [--rows 2000] [--steps 60] [--batch-size 16]
        [--modes "lora r=16,lora r=16 bf16,lora r=16 layers 4-11 bf16"]

bf16 pays only on CPUs with native bf16 dot products (AVX512-BF16, AMX); elsewhere torch
emulates it and it is slower than fp32.

Needs the bootstrapped base (`kreview models bootstrap`) or `--base FOLDER`.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.corpus import DATA
from models.adapters import AdapterConfig
from models.base.encoder import registry_base_dir, resolve_base
from models.config import DEFAULT_BASE, DEFAULT_LORA_TARGETS
from models.data import read_nsmc
from models.training.network import build_network, tokenize_examples
from models.training.train import Hyper, _optimizer, epoch_groups

LORA16 = AdapterConfig("lora", 16, 32.0, 0.0, DEFAULT_LORA_TARGETS)
# name -> (adapter, lr, autocast dtype or None for fp32)
MODES: dict[str, tuple[AdapterConfig, float, torch.dtype | None]] = {
    "lora r=16": (LORA16, 5e-4, None),
    "lora r=16 bf16": (LORA16, 5e-4, torch.bfloat16),
    # no gradient flows below the first adapted layer
    "lora r=16 layers 4-11": (replace(LORA16, first_layer=4), 5e-4, None),
    "lora r=16 layers 4-11 bf16": (replace(LORA16, first_layer=4), 5e-4, torch.bfloat16),
    "lora r=16 layers 6-11 bf16": (replace(LORA16, first_layer=6), 5e-4, torch.bfloat16),
    # dropout on LoRA's input copies every adapted linear's activations
    "lora r=8, lora dropout 0.1": (
        AdapterConfig("lora", 8, 16.0, 0.1, DEFAULT_LORA_TARGETS),
        3e-4,
        None,
    ),
    "full (embeddings frozen)": (AdapterConfig("full", frozen=("embeddings.",)), 5e-5, None),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--base", default=str(registry_base_dir(Path("warehouse/models"), DEFAULT_BASE))
    )
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=60, help="timed steps per mode")
    ap.add_argument("--block", type=int, default=10, help="steps per block before switching")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument(
        "--start-at",
        type=float,
        default=0.0,
        help="wall-clock time (time.time()) to start the warm-up at, after loading: runs "
        "started together by bench.train_parallel then time the same stretch",
    )
    ap.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated; the first is the baseline"
    )
    args = ap.parse_args()
    modes = {m.strip(): MODES[m.strip()] for m in args.modes.split(",")}
    if args.threads:
        torch.set_num_threads(args.threads)

    base = resolve_base(args.base, Path("warehouse/models"))
    ex = read_nsmc(DATA / "nsmc" / "ratings_train.txt.gz").sample(args.rows, 1234)
    hyper = Hyper(lr=1e-4, batch_size=args.batch_size, weight_decay=0.01, warmup_ratio=0, epochs=1)
    nets = {}
    for name, (adapter, lr, dtype) in modes.items():
        torch.manual_seed(0)
        net, tok, _ = build_network(base, ["sentiment"], {}, adapter)
        net.train()
        nets[name] = (net, _optimizer(net, replace(hyper, lr=lr)), dtype)
    tokenized = {
        "sentiment": tokenize_examples(ex, tok, prefix="query: ", max_length=args.max_length)
    }
    batches = [b for g in epoch_groups(tokenized, hyper, 50, 0, 0) for b in g]
    tokens = dict.fromkeys(modes, 0)
    wall = dict.fromkeys(modes, 0.0)
    cpu = dict.fromkeys(modes, 0.0)
    done = dict.fromkeys(modes, 0)
    examples = dict.fromkeys(modes, 0)
    pad_id = int(tok.pad_token_id)
    wait = args.start_at - time.time()
    if args.start_at and wait < 0:
        print(f"started {-wait:.1f} s late (loading took longer than --start-at allowed)")
    time.sleep(max(0.0, wait))
    cursor = 2  # two warm-up steps per mode first (allocator, kernels), not timed
    for net, opt, dtype in nets.values():
        for task, rows in batches[:2]:
            _step(net, opt, tokenized[task].batch(rows, pad_id), task, dtype)
    while min(done.values()) < args.steps:
        for name, (net, opt, dtype) in nets.items():
            for task, rows in batches[cursor : cursor + args.block]:
                batch = tokenized[task].batch(rows, pad_id)
                w0, c0 = time.perf_counter(), time.process_time()
                _step(net, opt, batch, task, dtype)
                wall[name] += time.perf_counter() - w0
                cpu[name] += time.process_time() - c0
                done[name] += 1
                examples[name] += len(rows)
                tokens[name] += int(batch["attention_mask"].sum())
        cursor = (cursor + args.block) % max(1, len(batches) - args.block)
    threads = torch.get_num_threads()
    print(
        f"base {base.base_id} ({base.source}), {args.rows} NSMC rows, batch {args.batch_size}, "
        f"max_length {args.max_length}, torch threads {threads}"
    )
    # ex per CPU-second does not depend on how much of the CPU other processes took; with one
    # thread it is the throughput of one dedicated core.
    print(
        f"{'mode':<28} {'trainable':>12} {'steps':>6} {'ex/s':>7} {'x base':>7} {'tok/s':>8} "
        f"{'cpu share':>9} {'ex/cpu-s':>9}"
    )
    first = next(iter(nets))
    base_rate = examples[first] / wall[first]
    for name, (net, _, _) in nets.items():
        n_train = sum(p.numel() for p in net.parameters() if p.requires_grad)
        rate = examples[name] / wall[name]
        print(
            f"{name:<28} {n_train:>12,} {done[name]:>6} {rate:>7.1f} {rate / base_rate:>7.2f} "
            f"{tokens[name] / wall[name]:>8.0f} {cpu[name] / (wall[name] * threads):>9.2f} "
            f"{examples[name] / cpu[name]:>9.1f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.2f} GiB (both networks loaded); load avg {np.round(_load(), 2)}")


def _step(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batch: dict,
    task: str,
    dtype: torch.dtype | None,
) -> None:
    with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
        loss = net.task_loss(task, batch)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


def _load() -> tuple[float, ...]:
    return os.getloadavg()


if __name__ == "__main__":
    main()
