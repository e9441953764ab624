"""The base encoder: resolve ``--base`` to a folder, load it (safetensors only, SDPA), pool.

``resolve_base(spec, models_dir)`` accepts

- a local folder (any transformers checkpoint with safetensors weights), or
- a Hugging Face id. It is fetched from the hub (or its local cache), safetensors and
  tokenizer/config files only. Where the hub cannot be reached and the id is one the
  registry holds a bootstrapped copy of (``<models_dir>/base/<name>/``, written by
  ``kreview models bootstrap``), that copy is used. Otherwise :class:`BaseUnavailable`
  says what to do.

Every resolved base carries the sha256 of its weights, recorded in each trained artifact so
that a scorer never applies task parts to a different base than the one they were trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.digest import sha256_file

# Re-exported: these live in the torch-free models.base.store (the CLI imports them).
from models.base.store import (  # noqa: F401
    BASE_SUBDIR,
    PICKLE_SUFFIXES,
    BaseMismatch,
    BaseUnavailable,
    UnsafeWeights,
    registry_base_dir,
)
from models.config import DEFAULT_BASE

# Files fetched from the hub: never pickled weights (*.bin, *.pt, *.pth, *.ckpt).
HUB_PATTERNS = (
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
    "vocab.txt",
    "spiece.model",
)


@dataclass(frozen=True)
class ResolvedBase:
    """Where a base encoder lives and what exactly it is."""

    spec: str  # what the user asked for (hub id or folder)
    base_id: str  # hub id, or the folder's recorded id (provenance.json), or the folder path
    path: Path  # local folder holding config, safetensors, tokenizer
    source: str  # "folder" | "hub" | "registry" (bootstrapped copy)
    sha256: str  # of the weights (one file), or of the sorted per-shard digests

    def describe(self) -> dict[str, str]:
        return {"id": self.base_id, "source": self.source, "sha256": self.sha256}


def resolve_base(spec: str, models_dir: Path) -> ResolvedBase:
    folder = Path(spec).expanduser()
    if folder.is_dir():
        return ResolvedBase(spec, _folder_base_id(folder), folder, "folder", weights_sha256(folder))
    if spec.count("/") != 1 or spec.startswith((".", "/")):
        raise BaseUnavailable(f"base {spec!r} is neither a folder nor a hub id (owner/name)")
    try:
        path = _hub_snapshot(spec)
    except OSError as exc:  # offline, DNS failure, 404: huggingface_hub raises OSError kinds
        local = registry_base_dir(models_dir, spec)
        if local.is_dir():
            return ResolvedBase(spec, spec, local, "registry", weights_sha256(local))
        hint = (
            f"run `kreview models bootstrap` to build it offline into {local}"
            if spec == DEFAULT_BASE
            else "connect to the hub once (it is cached afterwards) or pass a local folder"
        )
        raise BaseUnavailable(
            f"base {spec} is not reachable on the hub ({type(exc).__name__}) and has no "
            f"local copy: {hint}"
        ) from None
    return ResolvedBase(spec, spec, path, "hub", weights_sha256(path))


def resolve_recorded(base_id: str, sha256: str, models_dir: Path) -> ResolvedBase:
    """The base a trained artifact names, found by id and checked by weights checksum.

    Local copies are tried before the hub (no network when one matches): the registry's
    bootstrapped copy, then the id as a folder, then the hub or its cache.
    """
    seen: list[str] = []
    candidates: list[tuple[str, Path]] = []
    if base_id.count("/") == 1 and not base_id.startswith((".", "/")):
        candidates.append(("registry", registry_base_dir(models_dir, base_id)))
    candidates.append(("folder", Path(base_id).expanduser()))
    for source, folder in candidates:
        if folder.is_dir():
            digest = weights_sha256(folder)
            if digest == sha256:
                return ResolvedBase(base_id, base_id, folder, source, digest)
            seen.append(f"{folder} has sha256 {digest[:12]}")
    if base_id.count("/") == 1 and not base_id.startswith((".", "/")):
        try:
            hub = resolve_base(base_id, models_dir)
        except BaseUnavailable as exc:
            seen.append(str(exc))
        else:
            if hub.sha256 == sha256:
                return hub
            seen.append(f"{hub.source} copy has sha256 {hub.sha256[:12]}")
    raise BaseMismatch(
        f"no copy of base {base_id} with weights sha256 {sha256[:12]}… "
        f"({'; '.join(seen) or 'none found'}); the task parts were trained on other weights: "
        "bootstrap or fetch that base again, or retrain"
    )


def _hub_snapshot(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download

    path = Path(snapshot_download(repo_id, allow_patterns=list(HUB_PATTERNS)))
    if not any(path.glob("*.safetensors")):
        raise UnsafeWeights(f"{repo_id} publishes no safetensors weights; kreview loads no pickles")
    return path


def _folder_base_id(folder: Path) -> str:
    # A bootstrapped folder says which hub model it reproduces; keep that id in artifacts.
    prov = folder / "provenance.json"
    if prov.is_file():
        try:
            base = json.loads(prov.read_text("utf-8")).get("base")
        except json.JSONDecodeError:
            base = None
        if isinstance(base, str) and base:
            return base
    return str(folder.resolve())


def weights_sha256(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        pickles = [p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES]
        what = f"only pickled weights ({', '.join(pickles)})" if pickles else "no weights"
        raise UnsafeWeights(f"{folder} has {what}; kreview loads safetensors only")
    if len(files) == 1:
        return _sha256_cached(files[0].resolve(), *_stamp(files[0]))
    h = hashlib.sha256()
    for f in files:
        h.update(f"{f.name}:{_sha256_cached(f.resolve(), *_stamp(f))}\n".encode())
    return h.hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@cache
def _sha256_cached(path: Path, size: int, mtime_ns: int) -> str:
    # Hashing e5-small's 470 MB takes ~1.5 s; a process that loads it twice pays once.
    # (size, mtime) in the key: a rewritten file is hashed again.
    del size, mtime_ns
    return sha256_file(path)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but no CUDA device is available")
    return torch.device(device)


def load_backbone(base: ResolvedBase, *, dropout: bool = True) -> tuple[nn.Module, Any]:
    """(transformers model, tokenizer) of a resolved base: safetensors only, SDPA attention."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # transformers 5 draws a bar per load; ours is enough
    tokenizer = AutoTokenizer.from_pretrained(base.path, local_files_only=True)
    kwargs: dict[str, Any] = {"local_files_only": True, "use_safetensors": True}
    if not dropout:
        kwargs.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    try:
        model = AutoModel.from_pretrained(base.path, attn_implementation="sdpa", **kwargs)
    except ValueError as exc:  # an architecture without an SDPA path in this transformers
        if "sdpa" not in str(exc).lower():
            raise
        model = AutoModel.from_pretrained(base.path, attn_implementation="eager", **kwargs)
    if tokenizer.pad_token_id is None:
        raise BaseUnavailable(f"{base.path}: the tokenizer defines no padding token")
    return model, tokenizer


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the non-padding tokens (E5 pools this way, special tokens included)."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class Encoder(nn.Module):
    """Backbone + mean pooling: ``(input_ids, attention_mask) -> [batch, hidden]``."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    @property
    def hidden_size(self) -> int:
        return int(self.backbone.config.hidden_size)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask)
        return mean_pool(out.last_hidden_state, attention_mask)
