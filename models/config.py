"""Configuration of the models (base encoder, registry) and of batch scoring."""

from typing import Literal

from pydantic import Field

from jobs.frozen import Frozen

DEFAULT_BASE = "intfloat/multilingual-e5-small"


class ModelsConfig(Frozen):
    # A Hugging Face checkpoint id or a local folder.
    base: str = DEFAULT_BASE
    # Text prefix the base expects (e5 models were trained with "query: " / "passage: ").
    prefix: str = "query: "
    max_length: int = Field(default=128, ge=8, le=512)


class ScoringConfig(Frozen):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    batch_size: int = Field(default=64, ge=1)
    # Reviews streamed from the catalog per chunk; memory stays flat as the corpus grows.
    chunk_rows: int = Field(default=8192, ge=64)
    # Cosine similarity at or above which two reviews of a title join a cluster.
    cluster_threshold: float = Field(default=0.85, gt=0.0, lt=1.0)
    top_emotions: int = Field(default=3, ge=1, le=44)
