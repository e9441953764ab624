"""Where the current sentiment model fails (issue 6's list of known failure cases): its errors
on NSMC test, bucketed by what the text contains, against the overall error rate.

    .venv/bin/python -m bench.failures [--limit 10000] [--examples 3] [--warehouse warehouse]

Buckets come from the clean stage's own features (etl.normalize: laugh/cry counts, a rating
written in the text) and a few word lists: genre words that sound negative but praise a
horror film or a tear-jerker, negations, length. A bucket whose error rate is well above the
overall one is a known failure case; its examples go into the README.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import polars as pl

from bench.corpus import read_nsmc_test
from core.warehouse import Warehouse
from etl.normalize import normalize_frame
from models.registry.bundle import load_current
from models.registry.store import Registry
from models.scoring.batch import score_texts

# Words that read as negative but often praise a genre (horror, thriller, melodrama).
GENRE_WORDS = "무섭|무서|공포|소름|잔인|섬뜩|슬프|슬퍼|눈물|울었|울면서|펑펑"
NEGATIONS = r"(?:^|\s)(?:안|못)\s|않|없"


def buckets(frame: pl.DataFrame) -> dict[str, pl.Expr]:
    text = pl.col("text_norm")
    return {
        "laughter (ㅋㅋ/ㅎㅎ)": pl.col("laugh_count") > 0,
        "crying (ㅠㅠ/ㅜㅜ)": pl.col("cry_count") > 0,
        "^^ / -_- / ;;": text.str.contains(r"\^\^|-_-|;;"),
        "rating written in the text": pl.col("text_rating").is_not_null(),
        "text rating contradicts the label": ((pl.col("text_rating") >= 8) & (pl.col("label") == 0))
        | ((pl.col("text_rating") <= 4) & (pl.col("label") == 1)),
        "genre words (무섭/공포/소름/눈물...)": text.str.contains(GENRE_WORDS),
        "negation (안/못/않/없)": text.str.contains(NEGATIONS),
        "very short (<= 5 chars)": pl.col("length") <= 5,
        "long (>= 100 chars)": pl.col("length") >= 100,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=10_000, help="NSMC test rows (0 = all 50k)")
    ap.add_argument("--examples", type=int, default=3)
    ap.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    args = ap.parse_args()

    test = read_nsmc_test().drop_nulls("document")
    if args.limit:
        test = test.sample(n=min(args.limit, test.height), seed=0)
    frame = normalize_frame(test.rename({"document": "text_raw"}), "text_raw")
    models = load_current(Registry(Warehouse(args.warehouse).models_dir), device="cpu")
    p = score_texts(models, frame["text_norm"].to_list()).p_positive
    frame = frame.with_columns(
        p_positive=pl.Series(p),
        wrong=pl.Series((p >= 0.5).astype(int) != frame["label"].to_numpy()),
    )
    overall = float(frame["wrong"].mean())
    print(
        f"model {models.versions['sentiment']}, NSMC test {frame.height:,} rows: "
        f"error rate {overall:.3f} (accuracy {1 - overall:.4f})\n"
    )
    print(f"{'bucket':<38} {'rows':>6} {'error':>7} {'x overall':>9}")
    rows = []
    for name, cond in buckets(frame).items():
        part = frame.filter(cond)
        if part.height == 0:
            continue
        err = float(part["wrong"].mean())
        rows.append((err / overall if overall else np.nan, name, part))
        print(f"{name:<38} {part.height:>6,} {err:>7.3f} {err / overall:>9.2f}")
    print("\nexamples of errors, worst buckets first (label, p_positive, text):")
    for _, name, part in sorted(rows, key=lambda r: -r[0])[:4]:
        print(f"- {name}")
        for label, prob, text in (
            part.filter(pl.col("wrong"))
            .head(args.examples)
            .select("label", "p_positive", "text_raw")
            .rows()
        ):
            print(f"    {label}  {prob:.2f}  {text[:90]}")


if __name__ == "__main__":
    main()
