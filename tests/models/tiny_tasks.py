"""Tiny random encoders and a few dozen rows per task, for the training/registry tests.

Everything is built from numbers and the `tokenizers` library: no network, no real model.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

POSITIVE = ("좋아요", "최고", "재밌다", "감동", "강추", "명작")
NEGATIVE = ("별로", "지루", "최악", "실망", "노잼", "졸작")
FILLER = ("영화", "배우", "연출", "스토리", "진짜", "너무", "ㅋㅋ", "ㅠㅠ")
EMOTIONS = ("기쁨", "슬픔", "화남/분노", "놀람", "없음")
SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def _chars() -> list[str]:
    words = POSITIVE + NEGATIVE + FILLER + ("query:", "passage:")
    return sorted({c for w in words for c in w})


def write_tiny_base(
    folder: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0, dropout: float = 0.1
) -> Path:
    """A random BERT (hidden 32, 2 layers) and a character-level tokenizer, saved as a
    transformers folder with safetensors weights. dropout=0 makes a training step's loss a
    function of its batch alone."""
    import torch
    from tokenizers import Regex, Tokenizer, pre_tokenizers, processors
    from tokenizers.models import WordLevel
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *_chars()])}
    tok = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex("."), "isolated")]
    )
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        model_max_length=64,
    )
    fast.save_pretrained(folder)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=hidden * 2,
        max_position_embeddings=64,
        pad_token_id=vocab["[PAD]"],
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(cfg).save_pretrained(folder, safe_serialization=True)
    return folder


def _sentence(rng: np.random.Generator, words: tuple[str, ...], n: int = 2) -> str:
    parts = list(rng.choice(words, size=n)) + list(rng.choice(FILLER, size=2))
    rng.shuffle(parts)
    return " ".join(parts)


def write_nsmc(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    lines = ["id\tdocument\tlabel"]
    for i in range(n):
        label = i % 2
        lines.append(f"{1000 + i}\t{_sentence(rng, POSITIVE if label else NEGATIVE)}\t{label}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_kote(folder: Path, name: str, n: int, seed: int) -> Path:
    """KOTE layout: ``<name>.tsv`` (no header) and labels.tsv beside it (5 labels here)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "labels.tsv").write_text(
        "index\tlabel\n" + "".join(f"{i}\t{e}\n" for i, e in enumerate(EMOTIONS)),
        encoding="utf-8",
    )
    rows = []
    for i in range(n):
        positive = i % 2 == 0
        labels = [0, 3] if positive else [1, 2]
        if i % 5 == 0:
            labels.append(4)
        text = _sentence(rng, POSITIVE if positive else NEGATIVE)
        rows.append(f"{5000 + i}\t{text}\t{','.join(map(str, labels))}\n")
    path = folder / f"{name}.tsv"
    path.write_text("".join(rows), encoding="utf-8")
    return path


def write_sts(path: Path, n: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        same = i % 2 == 0
        a_words = POSITIVE if i % 4 < 2 else NEGATIVE
        b_words = a_words if same else (NEGATIVE if a_words is POSITIVE else POSITIVE)
        label = round(float(rng.uniform(3.5, 5.0) if same else rng.uniform(0.0, 1.5)), 1)
        items.append(
            {
                "guid": f"tiny-sts_{i:05d}",
                "source": "tiny",
                "sentence1": _sentence(rng, a_words),
                "sentence2": _sentence(rng, b_words),
                "labels": {"label": label, "real-label": label, "binary-label": int(label >= 3)},
            }
        )
    body = json.dumps(items, ensure_ascii=False, indent=4).encode("utf-8")
    path.write_bytes(gzip.compress(body) if path.suffix == ".gz" else body)
    return path


def write_pool(path: Path, n: int, seed: int, *, titles: int = 40) -> Path:
    """The pool's layout (id, movie_id, rating, date, document; gzip): stars follow the words
    (9-10 praise, 1-4 complaints, 5-8 a mix), over ``titles`` movie ids that include held-out
    ones (models/pool.py's split), so both sides of the split have rows."""
    from models.pool import is_held_out_title

    rng = np.random.default_rng(seed)
    held = [m for m in range(1, 10_000) if is_held_out_title(m)][:3]
    kept = [m for m in range(1, 10_000) if not is_held_out_title(m)][: titles - len(held)]
    movies = held + kept
    lines = ["id\tmovie_id\trating\tdate\tdocument"]
    for i in range(n):
        stars = int(rng.integers(1, 11))
        if stars >= 9:
            words = POSITIVE
        elif stars <= 4:
            words = NEGATIVE
        else:
            words = POSITIVE + NEGATIVE
        movie = movies[i % len(movies)]
        lines.append(f"{i + 1}\t{movie}\t{stars}\t10.01.01\t{_sentence(rng, words)} {i}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8")))
    return path


def write_tiny_datasets(root: Path, n_train: int = 64, n_test: int = 32) -> dict[str, Path]:
    """Files laid out as in ../shared/data, so held-out files are found beside training ones."""
    (root / "nsmc").mkdir(parents=True, exist_ok=True)
    (root / "klue-sts").mkdir(parents=True, exist_ok=True)
    return {
        "sentiment": write_nsmc(root / "nsmc" / "ratings_train.txt", n_train, 0),
        "sentiment_test": write_nsmc(root / "nsmc" / "ratings_test.txt", n_test, 100),
        "emotion": write_kote(root / "kote", "val", n_train, 1),
        "emotion_test": write_kote(root / "kote", "test", n_test, 101),
        "similarity": write_sts(
            root / "klue-sts" / "klue-sts-v1.1_train.no-annotations.json.gz", n_train, 2
        ),
        "similarity_test": write_sts(root / "klue-sts" / "klue-sts-v1.1_dev.json", n_test, 102),
    }


def fast_request(
    kind: str, data: dict[str, list[str]], base: Path | str, **overrides: object
) -> object:
    """A TrainRequest that trains a tiny model in about a second."""
    from models.adapters import AdapterConfig
    from models.config import DEFAULT_LORA_TARGETS
    from models.training.train import Hyper, LoopSettings
    from models.training.workflow import TrainRequest

    loop = LoopSettings(
        seed=0, eval_every=0, patience=100, tensorboard=False, head_dropout=0.0, log_every=2
    )
    fields = {
        "kind": kind,
        "data": data,
        "base": str(base),
        "prefix": "",
        "max_length": 32,
        "hyper": Hyper(lr=2e-2, batch_size=8, weight_decay=0.0, warmup_ratio=0.0, epochs=6),
        "loop": loop,
        "adapter": AdapterConfig("lora", 4, 8.0, 0.0, DEFAULT_LORA_TARGETS),
        "val_fraction": 0.25,
    }
    fields.update(overrides)
    return TrainRequest(**fields)  # type: ignore[arg-type]
