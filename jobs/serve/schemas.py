"""Request and response bodies of the API, with the limits of one request.

Request models are built from :class:`ServeConfig` so the OpenAPI document states the real
limits (``maxItems``, ``maxLength``) and clients and fuzzers can see them. Validation is
strict: a number is not a text and ``"yes"`` is not a boolean. Response models describe what
``kreview predict`` / ``kreview similarity`` print; the endpoints return those records as they
are, so the JSON is the same byte for byte in meaning.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from jobs.inputs import NOT_BLANK_PATTERN, text_problem
from jobs.serve.config import ServeConfig

STRICT = ConfigDict(extra="forbid", strict=True)


def scoreable(text: str) -> str:
    """The rule `kreview predict` / `similarity` apply too (jobs.inputs.text_problem)."""
    problem = text_problem(text)
    if problem:
        raise ValueError(f"the text {problem}")
    return text


def text_type(max_chars: int, what: str) -> Any:
    return Annotated[
        str,
        # pydantic refuses lone surrogates ("\ud800"), which the tokenizer cannot take
        StringConstraints(min_length=1, max_length=max_chars, pattern=NOT_BLANK_PATTERN),
        AfterValidator(scoreable),
        Field(
            description=f"{what}: 1 to {max_chars} characters, not only white space",
        ),
    ]


def request_models(cfg: ServeConfig) -> tuple[type[BaseModel], type[BaseModel]]:
    """``(PredictRequest, SimilarityRequest)`` with ``cfg``'s limits."""
    Text = text_type(cfg.max_text_chars, "a review or any Korean text")
    Sentence = text_type(cfg.max_text_chars, "a sentence")

    class PredictRequest(BaseModel):
        model_config = ConfigDict(
            **STRICT,
            json_schema_extra={"examples": [{"texts": ["감동ㅠㅠ 최고의 영화", "지루했다"]}]},
        )
        texts: list[Text] = Field(  # type: ignore[valid-type]
            min_length=1, max_length=cfg.max_texts, description="texts to score, in order"
        )
        embedding: bool = Field(default=False, description="include the embedding vector")

    class Pair(BaseModel):
        model_config = STRICT
        sentence1: Sentence  # type: ignore[valid-type]
        sentence2: Sentence  # type: ignore[valid-type]

    class SimilarityRequest(BaseModel):
        model_config = ConfigDict(
            **STRICT,
            json_schema_extra={
                "examples": [{"pairs": [{"sentence1": "영화 좋아요", "sentence2": "최고의 영화"}]}]
            },
        )
        pairs: list[Pair] = Field(
            min_length=1, max_length=cfg.max_pairs, description="sentence pairs, in order"
        )

    return PredictRequest, SimilarityRequest


class PredictRecord(BaseModel):
    """One line of `kreview predict`."""

    text: str
    text_norm: str = Field(description="the text after the pipeline's normalization")
    sentiment: Literal["positive", "negative"]
    p_positive: float = Field(ge=0, le=1)
    top_emotions: list[str] = Field(description="strongest KOTE emotions first")
    emotion_point: float = Field(ge=0, le=1)
    emotions: dict[str, float] = Field(description="44 KOTE emotion intensities, 0–1 each")
    model_versions: dict[str, str]
    predicted_rating: float | None = Field(
        default=None,
        ge=1,
        le=10,
        description="stars (1–10) read from the text: the median of the rating head's "
        "distribution (absent without a current rating model)",
    )
    expected_rating: float | None = Field(
        default=None, ge=1, le=10, description="the mean of that distribution, 1–10"
    )
    embedding: list[float] | None = Field(
        default=None, description="L2-normalized embedding (only when asked for)"
    )


class PredictResponse(BaseModel):
    results: list[PredictRecord]


class SimilarityRecord(BaseModel):
    """One line of `kreview similarity`."""

    sentence1: str
    sentence2: str
    score: float = Field(description="KLUE-STS scale, 0–5")
    same: bool = Field(description="score >= threshold")
    threshold: float
    model_version: str


class SimilarityResponse(BaseModel):
    results: list[SimilarityRecord]


class TitleScore(BaseModel):
    """A row of the title_scores view (columns documented in sql/views/schema.toml)."""

    title_id: str
    title: str
    scope: str
    n_reviews: int
    n_scored: int
    mean_rating: float | None
    share_positive: float | None
    mean_p_positive: float | None
    bayes_score: float | None
    title_score_0_10: float | None
    sentiment_rating_agreement: float | None
    n_predicted: int | None = Field(description="reviews whose stars the rating model predicted")
    mean_predicted_rating: float | None = Field(description="mean stars read from the text, 1–10")
    mean_rating_gap: float | None = Field(
        description="mean of (stars read from the text - stars given), over reviews with both"
    )


class TitleList(BaseModel):
    scope: str
    total: int = Field(description="titles matching, over all pages")
    limit: int
    offset: int
    titles: list[TitleScore]


class TitleEmotion(BaseModel):
    emotion_idx: int
    emotion: str
    n_scored: int
    mean_intensity: float
    top_share: float


class TitleCluster(BaseModel):
    cluster_id: int
    size: int
    share: float
    representative_key: str
    representative_text: str
    keywords: list[str]


class TitleDetail(BaseModel):
    title_id: str
    title: str
    scores: list[TitleScore] = Field(description="scope 'all' first, then per source")
    emotions: list[TitleEmotion] = Field(description="all 44, strongest mean intensity first")
    clusters: list[TitleCluster] = Field(description="largest first")


class Problem(BaseModel):
    """Every error: what went wrong, in words; never a stack trace."""

    error: str
    detail: list[str] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    ready: bool
    checks: dict[str, str]
    queued: dict[str, int] = Field(description="texts accepted and not yet answered")
