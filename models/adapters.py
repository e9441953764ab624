"""What of the encoder a task trains: LoRA adapters (default) or the encoder itself (full).

LoRA (Hu et al. 2021) adds ``B @ A`` (rank r) beside each targeted ``nn.Linear``; the base
weights stay frozen, so a trained model is a few MB on top of the shared base. A small own
implementation rather than peft: about a hundred lines, no extra dependency, and its tensors
are saved in our own safetensors layout that :func:`merge_lora` folds into the base for
scoring (a merged encoder runs exactly as fast as the plain base).

Tensor names in an adapter file:

- LoRA: ``<module path>.lora_A`` ``[r, in]`` and ``<module path>.lora_B`` ``[out, r]``,
  module paths relative to the backbone (``encoder.layer.0.attention.self.query``).
- full: backbone parameter names (``encoder.layer.0.attention.self.query.weight``), i.e.
  every tensor that was trained; the others come from the base unchanged.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import torch
from torch import nn

AdapterType = Literal["lora", "full"]


@dataclass(frozen=True)
class AdapterConfig:
    type: AdapterType = "lora"
    r: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    targets: tuple[str, ...] = ()
    # full fine-tuning: parameter-name prefixes kept frozen (e.g. the embeddings)
    frozen: tuple[str, ...] = ()
    # LoRA: wrap targets only in encoder layers >= first_layer (0 = every layer). The layers
    # below stay the base's, so backward stops above them: a cheaper training step.
    first_layer: int = 0
    # filled in by apply_adapter: the modules that were actually wrapped
    modules: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AdapterConfig:
        kw = dict(data)
        for key in ("targets", "frozen", "modules"):
            kw[key] = tuple(kw.get(key) or ())
        return cls(**kw)


class AdapterError(ValueError):
    """An adapter does not fit the encoder it is applied to."""


class LoRALinear(nn.Module):
    """``base(x) + dropout(x) @ A.T @ B.T * alpha / r``; ``base`` frozen, B starts at zero."""

    def __init__(self, base: nn.Linear, r: int, alpha: float, dropout: float) -> None:
        super().__init__()
        self.base = base
        self.r = r
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features, dtype=base.weight.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r, dtype=base.weight.dtype))
        # Same init as the paper / peft: A ~ Kaiming-uniform, B = 0, so training starts
        # from exactly the base model.
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        delta = (self.dropout(x) @ self.lora_A.T) @ self.lora_B.T
        return self.base(x) + delta * self.scaling

    def merged(self) -> nn.Linear:
        """A plain Linear with the low-rank update folded into its weight."""
        out = nn.Linear(
            self.base.in_features,
            self.base.out_features,
            bias=self.base.bias is not None,
            device=self.base.weight.device,
            dtype=self.base.weight.dtype,
        )
        with torch.no_grad():
            out.weight.copy_(self.base.weight + (self.lora_B @ self.lora_A) * self.scaling)
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out


def _matches(name: str, targets: Iterable[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


_LAYER_INDEX = re.compile(r"(?:^|\.)layer\.(\d+)\.")


def layer_index(name: str) -> int | None:
    """The encoder layer a module path sits in (``encoder.layer.3.output.dense`` -> 3)."""
    m = _LAYER_INDEX.search(name)
    return int(m.group(1)) if m else None


def _in_layers(name: str, first_layer: int) -> bool:
    if first_layer <= 0:
        return True
    idx = layer_index(name)
    return idx is not None and idx >= first_layer


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    setattr(parent, leaf, module)


def apply_adapter(backbone: nn.Module, cfg: AdapterConfig) -> AdapterConfig:
    """Freeze what the adapter does not train; wrap LoRA targets. Returns cfg with ``modules``."""
    for p in backbone.parameters():
        p.requires_grad_(False)
    if cfg.type == "full":
        trained = []
        for name, p in backbone.named_parameters():
            if not any(name.startswith(f) for f in cfg.frozen):
                p.requires_grad_(True)
                trained.append(name)
        if not trained:
            raise AdapterError(f"full fine-tuning with frozen={cfg.frozen} trains nothing")
        return AdapterConfig(**{**asdict(cfg), "modules": ()})
    linears = [n for n, m in backbone.named_modules() if isinstance(m, nn.Linear)]
    matched = [n for n in linears if _matches(n, cfg.targets)]
    if not matched:
        sample = ", ".join(linears[:8])
        raise AdapterError(
            f"LoRA targets {list(cfg.targets)} match no linear layer of this encoder "
            f"(it has e.g. {sample}); set models.train.lora_targets"
        )
    chosen = [n for n in matched if _in_layers(n, cfg.first_layer)]
    if not chosen:
        deepest = max((layer_index(n) or 0) for n in matched)
        raise AdapterError(
            f"LoRA first layer {cfg.first_layer} is past the encoder's last layer ({deepest}); "
            "set models.train.lora_first_layer lower"
        )
    for name in chosen:
        base = backbone.get_submodule(name)
        assert isinstance(base, nn.Linear)
        _set_module(backbone, name, LoRALinear(base, cfg.r, cfg.alpha, cfg.dropout))
    return AdapterConfig(**{**asdict(cfg), "modules": tuple(chosen)})


def adapter_state(backbone: nn.Module, cfg: AdapterConfig) -> dict[str, torch.Tensor]:
    """The trained encoder tensors (see the module docstring for names), detached, on CPU."""
    if cfg.type == "full":
        trained = {
            n: p
            for n, p in backbone.named_parameters()
            if not any(n.startswith(f) for f in cfg.frozen)
        }
        return {n: p.detach().cpu().contiguous() for n, p in trained.items()}
    out: dict[str, torch.Tensor] = {}
    for name in cfg.modules:
        mod = backbone.get_submodule(name)
        if not isinstance(mod, LoRALinear):
            raise AdapterError(f"{name} is not a LoRA layer (was the adapter merged?)")
        out[f"{name}.lora_A"] = mod.lora_A.detach().cpu().contiguous()
        out[f"{name}.lora_B"] = mod.lora_B.detach().cpu().contiguous()
    return out


def load_adapter_state(
    backbone: nn.Module, cfg: AdapterConfig, state: Mapping[str, torch.Tensor]
) -> None:
    """Copy saved adapter tensors into a backbone prepared with :func:`apply_adapter`."""
    expected = set(adapter_state(backbone, cfg))
    got = set(state)
    if expected != got:
        missing, extra = sorted(expected - got)[:3], sorted(got - expected)[:3]
        raise AdapterError(f"adapter tensors differ: missing {missing}, unexpected {extra}")
    params = dict(backbone.named_parameters())
    with torch.no_grad():
        for name, tensor in state.items():
            target = params[name]
            if target.shape != tensor.shape:
                raise AdapterError(f"{name}: shape {tuple(tensor.shape)} != {tuple(target.shape)}")
            target.copy_(tensor.to(target.dtype))


def merge_lora(backbone: nn.Module) -> int:
    """Fold every LoRA layer into a plain Linear (inference only). Returns how many."""
    names = [n for n, m in backbone.named_modules() if isinstance(m, LoRALinear)]
    for name in names:
        mod = backbone.get_submodule(name)
        assert isinstance(mod, LoRALinear)
        _set_module(backbone, name, mod.merged())
    return len(names)


def trainable_parameters(module: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in module.named_parameters() if p.requires_grad]
