"""Configuration of the models (base encoder, registry, training) and of batch scoring."""

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from core.frozen import Frozen

DEFAULT_BASE = "intfloat/multilingual-e5-small"
# The task names (models.heads builds a head for each), and the kinds of model: one task's,
# or one joint model of several. The scorer needs a current model for each REQUIRED task;
# "rating" (predicted stars) is optional: a registry whose models predate it still scores,
# with predicted_rating left NULL (and said so in the log).
REQUIRED_TASKS = ("sentiment", "emotion", "similarity")
OPTIONAL_TASKS = ("rating",)
TASKS = (*REQUIRED_TASKS, *OPTIONAL_TASKS)
JOINT = "joint"
KINDS = (*TASKS, JOINT)


class Keep(StrEnum):
    """Which weights a training run hands back: the best validation step's or the last's."""

    best = "best"
    last = "last"


def parse_repeats(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, int], ...]:
    """``("emotion=8",)`` -> ``(("emotion", 8),)``; a malformed item is a ValueError."""
    out: dict[str, int] = {}
    for item in items:
        task, sep, n = item.partition("=")
        if not sep or not task.strip() or not n.strip().isdigit() or int(n) < 1:
            raise ValueError(f"task repeat {item!r} is not task=N with N >= 1")
        out[task.strip()] = int(n)
    return tuple(sorted(out.items()))


# Linear layers LoRA wraps, matched as dotted-name suffixes. These names are shared by
# BERT, RoBERTa/XLM-R and ELECTRA (the e5 and KcELECTRA families): attention
# projections, attention output, and both FFN linears.
DEFAULT_LORA_TARGETS = (
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
)


class TrainConfig(Frozen):
    """Defaults of `kreview train` (every one can be overridden by a flag)."""

    epochs: int = Field(default=3, ge=1)
    # 0 = no cap; otherwise stop after this many optimizer steps (the LR schedule uses it).
    max_steps: int = Field(default=0, ge=0)
    batch_size: int = Field(default=32, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    # LoRA trains few parameters from zero, so it wants a far larger rate than full tuning.
    lr: float = Field(default=3e-4, gt=0.0, lt=1.0)
    full_finetune_lr: float = Field(default=5e-5, gt=0.0, lt=1.0)
    # Learning rate of the task heads (0 = the same as the encoder's/adapter's rate).
    head_lr: float = Field(default=0.0, ge=0.0, lt=1.0)
    # joint: passes over each task's data per epoch, as "task=N" (e.g. "emotion=8" so KOTE's
    # 4.5k rows are not drowned by NSMC's 150k). Tasks not named get 1.
    task_repeats: tuple[str, ...] = ()
    weight_decay: float = Field(default=0.01, ge=0.0, lt=1.0)
    # Fraction of the optimizer steps spent warming the LR up linearly (then linear decay).
    warmup_ratio: float = Field(default=0.06, ge=0.0, lt=1.0)
    max_grad_norm: float = Field(default=1.0, gt=0.0)
    seed: int = 42
    # Validation split carved from the training data, for early stopping and threshold tuning.
    val_fraction: float = Field(default=0.1, gt=0.0, lt=0.5)
    max_val_rows: int = Field(default=2000, ge=8)
    # Evaluate on the validation split every N optimizer steps (0 = once per epoch).
    eval_every: int = Field(default=500, ge=0)
    # Stop when the validation metric has not improved for this many evaluations.
    patience: int = Field(default=3, ge=1)
    # Checkpoint (safetensors, resumable) every N optimizer steps (0 = only at evaluations).
    checkpoint_every: int = Field(default=200, ge=0)
    # Sort texts by length inside pools of batch_size × this, so batches carry little padding.
    bucket_pool: int = Field(default=50, ge=1)
    lora_r: int = Field(default=8, ge=1, le=256)
    lora_alpha: float = Field(default=16.0, gt=0.0)
    # 0 as in peft: dropout on LoRA's input copies every adapted layer's activations, which
    # cost 26% of training throughput on a CPU core (bench/train_throughput.py).
    lora_dropout: float = Field(default=0.0, ge=0.0, lt=1.0)
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    # LoRA only in encoder layers >= N (0 = all). No gradient flows below the first adapted
    # layer, so a step costs less: on e5-small with bf16 on a 2-core CPU, layers 4-11 train
    # 1.22x and 6-11 1.40x as fast as all 12 (bench/train_throughput.py).
    lora_first_layer: int = Field(default=0, ge=0)
    # Full fine-tuning: the 250k-row word embedding is 80% of e5-small's weights and barely
    # moves in a short run; freezing it keeps artifacts and optimizer state small.
    freeze_embeddings: bool = True
    head_dropout: float = Field(default=0.1, ge=0.0, lt=1.0)
    # auto: bf16 on CUDA (fp16 where bf16 is missing) and on CPUs with native bf16 dot
    # products (AVX512-BF16 or AMX: 1.67x the fp32 training throughput on a Zen 4 core pair);
    # fp32 elsewhere. fp16 is CUDA-only.
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Optuna search: trials are pruned by the median rule after this many evaluations.
    prune_warmup_evals: int = Field(default=1, ge=0)

    @model_validator(mode="after")
    def _repeats_parse(self) -> "TrainConfig":
        parse_repeats(self.task_repeats)
        return self

    @model_validator(mode="after")
    def _targets_not_empty(self) -> "TrainConfig":
        if not self.lora_targets:
            raise ValueError("lora_targets must name at least one linear layer")
        return self


class ModelsConfig(Frozen):
    # A Hugging Face checkpoint id or a local folder.
    base: str = DEFAULT_BASE
    # Text prefix the base expects (e5 models were trained with "query: " / "passage: ").
    prefix: str = "query: "
    max_length: int = Field(default=128, ge=8, le=512)
    # A new version is promoted only if its primary metric beats the current one by more
    # than this, on the same held-out set.
    promote_min_delta: float = Field(default=0.0, ge=0.0)
    train: TrainConfig = TrainConfig()


class RayConfig(Frozen):
    """``scoring.engine = "ray"``: where Ray runs and how the work is split."""

    # None = start a private local Ray for the run (shut down after); else a cluster address
    # such as "ray://head:10001" or "auto". Remote nodes need kreview installed and the
    # warehouse on a filesystem they all see (the pending reviews are staged there).
    address: str | None = None
    # Scoring actors: 0 = one per GPU, or one per CPU slot when the cluster has no GPU.
    actors: int = Field(default=0, ge=0)
    # CPU slots (and torch threads) per CPU actor; GPU actors take one GPU each.
    cpus_per_actor: int = Field(default=1, ge=1)
    # Reviews per staged Parquet partition = per actor call (batched by scoring.batch_size).
    batch_rows: int = Field(default=1024, ge=1)
    # Only when starting a local Ray: CPUs it may use (0 = all) and its object store.
    local_cpus: int = Field(default=0, ge=0)
    object_store_mb: int = Field(default=512, ge=80)


class ScoringConfig(Frozen):
    @model_validator(mode="before")
    @classmethod
    def _legacy_quantize(cls, data: Any) -> Any:
        """``quantize`` was the key before ``precision``: "int8" still means int8, "none"
        leaves the precision to ``precision``."""
        if isinstance(data, dict) and "quantize" in data:
            data = dict(data)
            legacy = data.pop("quantize")
            if legacy not in ("none", "int8"):
                raise ValueError(f"quantize must be none or int8 (got {legacy!r}); use precision")
            if legacy == "int8":
                data.setdefault("precision", "int8")
        return data

    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(default=64, ge=1)
    # Reviews streamed from the catalog per chunk; memory stays flat as the corpus grows.
    chunk_rows: int = Field(default=8192, ge=64)
    # Cosine similarity at or above which two reviews of a title join a cluster.
    cluster_threshold: float = Field(default=0.85, gt=0.0, lt=1.0)
    # Clusters smaller than this are not stored (their reviews stay unclustered).
    min_cluster_size: int = Field(default=2, ge=1)
    cluster_keywords: int = Field(default=5, ge=1, le=50)
    # A title that gains reviews keeps its clusters: each new review joins the cluster whose
    # centroid is nearest if the cosine reaches cluster_threshold (models/scoring/incremental.py).
    # It is clustered from scratch when its reviews added since the last full clustering exceed
    # this share of the reviews that clustering saw...
    recluster_new_share: float = Field(default=0.2, gt=0.0)
    # ...or when its unclustered share has grown by more than this since then (new reviews
    # that fit no cluster may form clusters of their own), or when the model version changed.
    recluster_unclustered_growth: float = Field(default=0.1, ge=0.0, le=1.0)
    top_emotions: int = Field(default=3, ge=1, le=44)
    # The encoder's number format on CPU (models/precision.py; on CUDA it always autocasts).
    # auto: bf16 autocast where the CPU multiplies bf16 natively, else fp32. int8: dynamic
    # quantization of the linear layers, fastest but it costs accuracy (NSMC 0.893 -> 0.870,
    # embedding cosine to fp32 0.90: docs/BENCHMARKS.md).
    precision: Literal["auto", "fp32", "bf16", "int8"] = "auto"
    # One reclustering read (one query) covers at most this many titles and this
    # many embedded reviews (a larger title is read alone). Each query scans the embeddings
    # table once, so fewer, larger reads are faster; the review bound keeps memory flat
    # (32,768 reviews of 384 dims: about 75 MB, two batches at a time with the read ahead).
    cluster_read_titles: int = Field(default=4096, ge=1)
    cluster_read_reviews: int = Field(default=32768, ge=1)
    # Reclustering commits once the read batches written since its last commit hold this many
    # reviews (and at the end): a commit per batch cost 15-20 ms each, a third of the pool's
    # write time. A kill loses at most this much work, which the rerun redoes.
    cluster_commit_reviews: int = Field(default=262144, ge=1)
    # local: this process scores. ray: Ray Data actors score Parquet partitions of the pending
    # reviews (models/scoring/ray_engine.py); the same numbers, for corpora that outgrow one
    # machine.
    engine: Literal["local", "ray"] = "local"
    ray: RayConfig = RayConfig()
