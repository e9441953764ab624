"""Which rating head: regression or ordinal classification? Measured on frozen encoder vectors.

    .venv/bin/python -m bench.rating_heads [--train-rows 40000] [--cache /tmp/rating_vecs.npz]

The current joint default encodes a seeded sample of the pool's training titles and all of its
held-out titles (models/pool.py) once (bf16 autocast where the CPU has it). Linear heads of each
kind are then fitted on the pooled vectors of the training sample and scored on the held-out
titles: MAE, Spearman and accuracy within ±1 star, next to the issue's two baselines (the
training mean; the current sentiment head's p_positive mapped to stars by isotonic regression
fitted on the training sample). A head that wins on frozen vectors is the one to train jointly.

Heads (each on standardized vectors, AdamW, full-batch epochs over minibatches):
- regression, MSE on the stars; regression, L1 (its optimum is the median, MAE's optimum);
- softmax over the 10 stars, read as the distribution's median or its mean;
- ordinal (CORAL: one shared projection, 9 thresholds, P(stars > k) per k), median or mean.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.warehouse import Warehouse
from models.data import read_data
from models.evaluate import rating_metrics
from models.inference import encode_texts, head_outputs
from models.precision import cpu_autocast, scoring_precision
from models.registry.bundle import load_version
from models.registry.store import Registry, resolve_ref

POOL = "../shared/data/unlabeled/nsmc_raw_pool.tsv.gz"
STARS = 10


def encode(args: argparse.Namespace) -> dict[str, np.ndarray]:
    cache = Path(args.cache)
    if cache.is_file():
        return dict(np.load(cache))
    train = read_data("rating", args.pool).sample(args.train_rows, 7)
    held = read_data("rating", args.pool + "#held-out")
    registry = Registry(Warehouse(Path(args.warehouse)).models_dir)
    model = load_version(registry, resolve_ref(registry, args.model, ("sentiment",)), device="cpu")
    precision = scoring_precision("auto", model.device)
    out: dict[str, np.ndarray] = {}
    for name, ex in (("train", train), ("held", held)):
        t0 = time.perf_counter()
        with cpu_autocast(precision, model.device):
            vec = encode_texts(model.encoder, model.text, ex.texts, batch_size=64)
        out[f"{name}_x"] = vec.numpy()
        out[f"{name}_y"] = ex.labels.astype(np.float32)
        out[f"{name}_p"] = head_outputs("sentiment", model.heads["sentiment"], vec)
        took = time.perf_counter() - t0
        print(f"encoded {name}: {len(ex):,} texts in {took:.0f} s ({precision})")
    np.savez(cache, **out)
    return out


def fit(kind: str, x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    n_out = {"mse": 1, "l1": 1, "softmax": STARS, "coral": 1}[kind]
    proj = torch.nn.Linear(x.shape[1], n_out)
    bias = torch.nn.Parameter(torch.linspace(2, -2, STARS - 1)) if kind == "coral" else None
    params = [*proj.parameters(), *([bias] if bias is not None else [])]
    opt = torch.optim.AdamW(params, lr=3e-3, weight_decay=1e-4)
    cls = (y.long() - 1).clamp(0, STARS - 1)
    for _ in range(epochs):
        for idx in torch.randperm(len(x)).split(256):
            out = proj(x[idx])
            if kind == "mse":
                loss = F.mse_loss(out[:, 0] + 5.5, y[idx])
            elif kind == "l1":
                loss = F.l1_loss(out[:, 0] + 5.5, y[idx])
            elif kind == "softmax":
                loss = F.cross_entropy(out, cls[idx])
            else:
                assert bias is not None
                levels = (cls[idx, None] > torch.arange(STARS - 1)).float()
                loss = F.binary_cross_entropy_with_logits(out + bias, levels)
            opt.zero_grad()
            loss.backward()
            opt.step()
    proj.coral_bias = bias  # type: ignore[attr-defined]
    return proj


def decode(kind: str, head: torch.nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
    stars = torch.arange(1, STARS + 1, dtype=torch.float32)
    with torch.no_grad():
        out = head(x)
        if kind in ("mse", "l1"):
            return {"": (out[:, 0] + 5.5).clamp(1, STARS).numpy()}
        if kind == "softmax":
            probs = torch.softmax(out, -1)
        else:
            above = torch.sigmoid(out + head.coral_bias)  # P(stars > k), k = 1..9
            cdf_gt = torch.cat([torch.ones(len(x), 1), above, torch.zeros(len(x), 1)], 1)
            probs = (cdf_gt[:, :-1] - cdf_gt[:, 1:]).clamp_min(0)
            probs = probs / probs.sum(1, keepdim=True)
        cdf = probs.cumsum(1)
        median = 1 + (cdf < 0.5).sum(1).float()
        return {" median": median.numpy(), " mean": (probs * stars).sum(1).numpy()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pool", default=POOL)
    ap.add_argument("--warehouse", default="warehouse")
    ap.add_argument("--model", default="current", help="the encoder (a ref, current or latest)")
    ap.add_argument("--train-rows", type=int, default=40_000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--cache", default="/tmp/kreview_rating_vectors.npz")
    args = ap.parse_args()
    torch.set_num_threads(2)
    d = encode(args)
    mean, std = d["train_x"].mean(0), d["train_x"].std(0) + 1e-6
    xt = torch.from_numpy((d["train_x"] - mean) / std)
    xh = torch.from_numpy((d["held_x"] - mean) / std)
    yt, yh = torch.from_numpy(d["train_y"]), d["held_y"]
    print(f"train {len(yt):,} reviews, held-out {len(yh):,} reviews of other titles")
    rows = {"constant (training mean)": np.full(len(yh), float(yt.mean()))}

    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=1, y_max=STARS, out_of_bounds="clip")
    iso.fit(d["train_p"], d["train_y"])
    rows["isotonic(p_positive)"] = iso.predict(d["held_p"])
    for kind in ("mse", "l1", "softmax", "coral"):
        t0 = time.perf_counter()
        head = fit(kind, xt, yt, args.epochs, seed=0)
        for tag, pred in decode(kind, head, xh).items():
            rows[f"{kind}{tag}"] = pred
        print(f"  fitted {kind} in {time.perf_counter() - t0:.0f} s")
    base = rating_metrics(rows["isotonic(p_positive)"], yh)["mae"]
    print(f"{'head':28} {'MAE':>6} {'vs iso':>7} {'Spearman':>9} {'±1 star':>8}")
    for name, pred in rows.items():
        m = rating_metrics(pred, yh)
        print(
            f"{name:28} {m['mae']:6.3f} {m['mae'] / base:7.3f} {m['spearman']:9.3f} "
            f"{m['within_1']:8.3f}"
        )


if __name__ == "__main__":
    main()
