"""Training and evaluation data: NSMC, KOTE, KLUE-STS files and weak labels from the warehouse.

Readers return :class:`Examples`, one row per text (or per sentence pair for similarity):

- sentiment: ``labels`` int64 ``[n]``, 0 = negative, 1 = positive.
- emotion: ``labels`` float32 ``[n, 44]`` multi-hot over the KOTE labels.
- similarity: ``texts`` / ``texts_b`` are the two sentences, ``labels`` float32 ``[n]`` 0–5.

A data spec on the command line is a path, or ``warehouse`` for the rated reviews of the
warehouse as weak sentiment labels (rating >= 9 positive, <= 4 negative, others skipped).
Formats are described in ../shared/data/README.md; files are read with ``quote_char=None``
because NSMC and KOTE contain bare double quotes.

Texts from files go through ``etl.normalize`` (the clean stage's rules: ㅋㅋㅋㅋ -> ㅋㅋ, NFKC
with jamo kept, …) unless ``normalize=False``: the scorer reads ``text_norm``, so a model
trained on raw text would see a slightly different language at scoring time (11% of NSMC
texts change). Warehouse reviews are already normalized.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from core.catalog import open_reader
from core.warehouse import Warehouse

WAREHOUSE_SPEC = "warehouse"
WEAK_POSITIVE_AT = 9.0
WEAK_NEGATIVE_AT = 4.0
KOTE_LABELS_FILE = "labels.tsv"
# The 44 KOTE labels in index order (upstream README); used when labels.tsv is not beside
# the data, and as the check that a labels.tsv is the list we expect.
KOTE_LABELS = (
    "불평/불만", "환영/호의", "감동/감탄", "지긋지긋", "고마움", "슬픔", "화남/분노", "존경",
    "기대감", "우쭐댐/무시함", "안타까움/실망", "비장함", "의심/불신", "뿌듯함", "편안/쾌적",
    "신기함/관심", "아껴주는", "부끄러움", "공포/무서움", "절망", "한심함", "역겨움/징그러움",
    "짜증", "어이없음", "없음", "패배/자기혐오", "귀찮음", "힘듦/지침", "즐거움/신남", "깨달음",
    "죄책감", "증오/혐오", "흐뭇함(귀여움/예쁨)", "당황/난처", "경악", "부담/안_내킴", "서러움",
    "재미없음", "불쌍함/연민", "놀람", "행복", "불안/걱정", "기쁨", "안심/신뢰",
)  # fmt: skip


class DataError(ValueError):
    """A data file is missing, empty or not in the format its task expects."""


@dataclass(frozen=True)
class Examples:
    task: str
    texts: tuple[str, ...]
    labels: np.ndarray
    texts_b: tuple[str, ...] | None = None  # similarity: the second sentence of each pair
    label_names: tuple[str, ...] = ()  # emotion: the 44 names
    source: str = ""
    # What the reader dropped and kept (e.g. the pool's NSMC-test duplicates), for the card.
    counts: tuple[tuple[str, int], ...] = ()

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: Sequence[int] | np.ndarray) -> Examples:
        idx = np.asarray(idx, dtype=np.int64)
        return Examples(
            self.task,
            tuple(self.texts[i] for i in idx),
            self.labels[idx],
            None if self.texts_b is None else tuple(self.texts_b[i] for i in idx),
            self.label_names,
            self.source,
            self.counts,
        )

    def sample(self, n: int | None, seed: int) -> Examples:
        """At most ``n`` rows, a seeded random choice kept in file order (None = all)."""
        if n is None or n >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.subset(np.sort(rng.choice(len(self), size=n, replace=False)))

    def fingerprint(self) -> str:
        """sha256 over the texts and labels: 'the same held-out set' means equal fingerprints."""
        h = hashlib.sha256(self.task.encode())
        for i, text in enumerate(self.texts):
            h.update(b"\x00" + text.encode("utf-8"))
            if self.texts_b is not None:
                h.update(b"\x01" + self.texts_b[i].encode("utf-8"))
        h.update(np.ascontiguousarray(self.labels).tobytes())
        return h.hexdigest()


def concat(parts: Sequence[Examples]) -> Examples:
    if not parts:
        raise DataError("no data given")
    first = parts[0]
    if any(p.task != first.task or p.label_names != first.label_names for p in parts):
        raise DataError("cannot mix data of different tasks or label lists")
    texts_b = None if first.texts_b is None else tuple(t for p in parts for t in p.texts_b or ())
    return Examples(
        first.task,
        tuple(t for p in parts for t in p.texts),
        np.concatenate([p.labels for p in parts]),
        texts_b,
        first.label_names,
        " + ".join(p.source for p in parts),
        tuple(kv for p in parts for kv in p.counts),
    )


# ----------------------------------------------------------------- readers


def normalized_frame(df: pl.DataFrame, *cols: str, normalize: bool) -> pl.DataFrame:
    """Normalize text columns (vectorized: ~1.5 s for NSMC's 150k rows), drop empty rows."""
    if normalize:
        from etl.normalize import normalize_expr

        df = df.with_columns(normalize_expr(c).alias(c) for c in cols)
    keep = pl.all_horizontal(pl.col(c).str.strip_chars().str.len_chars() > 0 for c in cols)
    return df.filter(keep.fill_null(False))


def _require(path: Path) -> Path:
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    return path


def read_nsmc(path: Path, *, normalize: bool = True) -> Examples:
    """NSMC (id, document, label); rows with an empty document are dropped."""
    try:
        df = pl.read_csv(
            _require(path),
            separator="\t",
            quote_char=None,
            schema_overrides={"document": pl.Utf8, "label": pl.Int64},
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: not an NSMC file: {exc}") from exc
    if not {"document", "label"} <= set(df.columns):
        raise DataError(f"{path}: expected columns id, document, label; got {df.columns}")
    df = normalized_frame(df, "document", normalize=normalize)
    bad = df.filter(~pl.col("label").is_in([0, 1])).height
    if bad:
        raise DataError(f"{path}: {bad} rows have a label other than 0/1")
    return Examples(
        "sentiment",
        tuple(df["document"].to_list()),
        df["label"].to_numpy().astype(np.int64),
        source=str(path),
    )


def read_kote_labels(data_path: Path) -> tuple[str, ...]:
    """labels.tsv beside the KOTE file, else the built-in list."""
    listing = data_path.parent / KOTE_LABELS_FILE
    if not listing.is_file():
        return KOTE_LABELS
    df = pl.read_csv(listing, separator="\t", quote_char=None, schema_overrides={"label": pl.Utf8})
    names = tuple(df.sort("index")["label"].to_list())
    if df["index"].to_list() != sorted(df["index"].to_list()) or len(names) < 2:
        raise DataError(f"{listing}: expected 'index<TAB>label' rows numbered from 0")
    return names


def read_kote(path: Path, *, normalize: bool = True) -> Examples:
    """KOTE (ID, text, comma-separated label indices), no header; multi-hot labels."""
    names = read_kote_labels(path)
    try:
        df = pl.read_csv(
            _require(path),
            separator="\t",
            has_header=False,
            quote_char=None,
            new_columns=["ID", "text", "labels"],
            schema_overrides={"ID": pl.Utf8, "text": pl.Utf8, "labels": pl.Utf8},
        ).with_columns(pl.col("labels").str.split(",").cast(pl.List(pl.Int64)))
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: not a KOTE file: {exc}") from exc
    df = normalized_frame(df.filter(pl.col("labels").is_not_null()), "text", normalize=normalize)
    # Multi-hot via an exploded (row, label) list: vectorized, no per-row Python loop.
    pairs = df.with_row_index("row").select("row", "labels").explode("labels")
    rows = pairs["row"].to_numpy()
    cols = pairs["labels"].to_numpy()
    if cols.size and (cols.min() < 0 or cols.max() >= len(names)):
        raise DataError(f"{path}: label index outside 0..{len(names) - 1}")
    multi_hot = np.zeros((df.height, len(names)), dtype=np.float32)
    multi_hot[rows, cols] = 1.0
    return Examples("emotion", tuple(df["text"].to_list()), multi_hot, None, names, str(path))


def read_klue_sts(path: Path, *, normalize: bool = True) -> Examples:
    """KLUE-STS v1.1 JSON (optionally .gz): sentence1, sentence2, labels.label (0–5)."""
    try:
        df = pl.read_json(_require(path)).unnest("labels")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{path}: not a KLUE-STS JSON file: {exc}") from exc
    if not {"sentence1", "sentence2", "label"} <= set(df.columns):
        raise DataError(f"{path}: expected sentence1, sentence2, labels.label")
    df = normalized_frame(df, "sentence1", "sentence2", normalize=normalize)
    return Examples(
        "similarity",
        tuple(df["sentence1"].to_list()),
        df["label"].cast(pl.Float32).to_numpy(),
        tuple(df["sentence2"].to_list()),
        source=str(path),
    )


def read_weak_labels(
    wh: Warehouse,
    *,
    wait_s: float = 5.0,
    positive_at: float = WEAK_POSITIVE_AT,
    negative_at: float = WEAK_NEGATIVE_AT,
) -> Examples:
    """Rated reviews of the warehouse: rating >= 9 -> positive, <= 4 -> negative, rest skipped."""
    with open_reader(wh, wait_s) as con:
        rows = con.execute(
            "SELECT text_norm, CASE WHEN rating >= ? THEN 1 ELSE 0 END AS label FROM reviews"
            " WHERE rating IS NOT NULL AND (rating >= ? OR rating <= ?)"
            " AND length(trim(text_norm)) > 0 ORDER BY source, review_id",
            [positive_at, positive_at, negative_at],
        ).fetchall()
    if not rows:
        raise DataError(
            f"the warehouse at {wh.root} has no reviews rated >= {positive_at:g} or "
            f"<= {negative_at:g} to use as weak labels"
        )
    return Examples(
        "sentiment",
        tuple(r[0] for r in rows),
        np.array([r[1] for r in rows], dtype=np.int64),
        source=f"warehouse reviews (weak labels: >= {positive_at:g} / <= {negative_at:g})",
    )


def read_data(
    task: str,
    spec: str,
    wh: Warehouse | None = None,
    *,
    wait_s: float = 5.0,
    normalize: bool = True,
) -> Examples:
    """One data spec (a path, or ``warehouse``) read as the given task's format."""
    if spec == WAREHOUSE_SPEC:
        if task != "sentiment":
            raise DataError("weak labels from the warehouse exist only for sentiment")
        if wh is None:
            raise DataError("no warehouse given for weak labels")
        return read_weak_labels(wh, wait_s=wait_s)
    from models import pool  # the pool reader builds on this module's readers

    path, _ = pool.split_spec(spec)
    if task == "rating":
        return pool.read_pool_ratings(spec, normalize=normalize)
    if task == "sentiment" and pool.is_pool_file(path):
        return pool.read_pool_sentiment(spec, normalize=normalize)
    if task == "sentiment":
        return read_nsmc(path, normalize=normalize)
    if task == "emotion":
        return read_kote(path, normalize=normalize)
    if task == "similarity":
        return read_klue_sts(path, normalize=normalize)
    raise DataError(f"unknown task {task!r}")


def default_eval_path(task: str, train_spec: str) -> Path | str | None:
    """The held-out file that sits beside a training file in ../shared/data's layout."""
    from models import pool

    if train_spec == WAREHOUSE_SPEC:
        return None
    if task == "rating":  # the pool's held-out titles
        return pool.held_out_spec(train_spec)
    path = Path(train_spec)
    pairs = {
        "sentiment": ("ratings_train", "ratings_test"),
        "emotion": ("val", "test"),
        "similarity": ("_train.no-annotations.json.gz", "_dev.json"),
    }
    old, new = pairs[task]
    if task == "similarity":
        if not path.name.endswith(old):
            return None
        candidate = path.with_name(path.name[: -len(old)] + new)
    else:
        if old not in path.name:
            return None
        candidate = path.with_name(path.name.replace(old, new))
    return candidate if candidate.is_file() and candidate != path else None


def split_validation(
    ex: Examples, fraction: float, max_rows: int, seed: int
) -> tuple[Examples, Examples]:
    """(train, validation), a seeded random split; validation holds at most ``max_rows``."""
    n_val = min(max(1, round(len(ex) * fraction)), max_rows)
    if len(ex) - n_val < 1:
        raise DataError(f"{len(ex)} rows are too few to split off a validation set")
    perm = np.random.default_rng(seed).permutation(len(ex))
    return ex.subset(np.sort(perm[n_val:])), ex.subset(np.sort(perm[:n_val]))
