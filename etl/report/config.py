"""Configuration of the static HTML report (`kreview report`, the pipeline's last stage)."""

from pathlib import Path

from pydantic import Field

from core.frozen import Frozen


class ReportConfig(Frozen):
    # None: <warehouse>/reports. Each report lands in <out_dir>/<run id>/, `latest` points at it.
    out_dir: Path | None = None
    # Keep this many reports; older ones are removed after a successful build.
    keep: int = Field(default=14, ge=1)
    # Title pages: the index lists every title, but pages (charts, clusters, reviews) are
    # written only for the max_title_pages most reviewed titles, the disagreement_pages titles
    # with the most sentiment/star disagreements among the others, and any `--title`, so the
    # report takes a bounded time however many titles the warehouse holds.
    max_title_pages: int = Field(default=100, ge=0, le=100_000)
    disagreement_pages: int = Field(default=20, ge=0, le=100_000)
    # Disagreements between sentiment and stars listed per title page, most confident first.
    disagreements_per_title: int = Field(default=10, ge=0, le=1000)
    # Reviews whose predicted stars (the rating model's) differ most from the stars given,
    # listed per title page, largest gap first.
    rating_gaps_per_title: int = Field(default=5, ge=0, le=1000)
    # Emotions highlighted in a title's emotion profile (of the 44).
    top_emotions: int = Field(default=5, ge=1, le=44)
    # A font family (or .ttf/.otf file) with Hangul glyphs for the charts; None: the first found
    # among NanumGothic, Noto Sans CJK KR, … (fonts-nanum / fonts-noto-cjk).
    font: str | None = None
