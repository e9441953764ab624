"""The benchmark corpus: 493,882 real Naver movie reviews (../shared/data/unlabeled) written to
``raw/`` as if freshly scraped (RAW_SCHEMA), so benches run the real stages on real text.

The browser is skipped for these figures: records go straight to raw Parquet.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from core.atomic import atomic_path
from etl.raw_schema import RAW_SCHEMA

DATA = Path(os.environ.get("KREVIEW_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
POOL = DATA / "unlabeled" / "nsmc_raw_pool.tsv.gz"
NSMC_TEST = DATA / "nsmc" / "ratings_test.txt.gz"
SCRAPED_AT = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


def read_pool(limit: int | None = None) -> pl.DataFrame:
    df = pl.read_csv(
        POOL,
        separator="\t",
        quote_char=None,
        schema_overrides={"date": pl.Utf8, "document": pl.Utf8},
    )
    return df.head(limit) if limit else df


def read_nsmc_test() -> pl.DataFrame:
    return pl.read_csv(
        NSMC_TEST, separator="\t", quote_char=None, schema_overrides={"document": pl.Utf8}
    )


def to_raw(df: pl.DataFrame, run_id: str, scraped_at: datetime = SCRAPED_AT) -> pl.DataFrame:
    """Pool rows -> raw records. Titles are NSMC movie ids (names are not in the data)."""
    out = df.select(
        source=pl.lit("naver"),
        review_id=pl.col("id").cast(pl.Utf8),
        title_id=pl.format("nsmc-{}", pl.col("movie_id")),
        title=pl.format("movie {}", pl.col("movie_id")),
        source_title_id=pl.col("movie_id").cast(pl.Utf8),
        rating=pl.col("rating").cast(pl.Float32),
        text=pl.col("document").fill_null(""),
        author_hash=pl.lit(None, pl.Utf8),
        written_at=pl.col("date")
        .str.strptime(pl.Datetime("us"), "%y.%m.%d", strict=False)
        .dt.replace_time_zone("UTC"),
        likes=pl.lit(None, pl.Int32),
        spoiler=pl.lit(None, pl.Boolean),
        improper=pl.lit(None, pl.Boolean),  # Watcha's flag; Naver has none
        url=pl.format(
            "https://movie.naver.com/movie/point/af/list.naver?st=mcode&sword={}",
            pl.col("movie_id"),
        ),
        scraped_at=pl.lit(scraped_at).dt.cast_time_unit("us"),
        run_id=pl.lit(run_id),
    )
    keys = out.select(
        pl.concat_str([pl.col("source"), pl.lit("\x1f"), pl.col("review_id")])
        .map_batches(_sha16, return_dtype=pl.Utf8)
        .alias("review_key")
    )
    return out.with_columns(keys).select(RAW_SCHEMA.names)


def _sha16(s: pl.Series) -> pl.Series:
    # Same as etl.raw_schema.review_key, over a column (hashlib has no vector form).
    import hashlib

    return pl.Series([hashlib.sha256(v.encode()).hexdigest()[:16] for v in s], dtype=pl.Utf8)


def write_raw(df: pl.DataFrame, raw_dir: Path, run_id: str, files: int = 8) -> list[Path]:
    """Write ``df`` (raw records) as ``files`` Parquet parts of one run, as a scraper would."""
    part_dir = raw_dir / "source=naver" / f"date={SCRAPED_AT:%Y-%m-%d}"
    part_dir.mkdir(parents=True, exist_ok=True)
    table = df.to_arrow().cast(pa.schema([f.with_nullable(True) for f in RAW_SCHEMA]))
    paths = []
    step = -(-table.num_rows // files)
    for i in range(files):
        chunk = table.slice(i * step, step)
        if chunk.num_rows == 0:
            break
        path = part_dir / f"{run_id}-{i:04d}.parquet"
        with atomic_path(path) as tmp:
            pq.write_table(chunk, tmp, compression="zstd")
        paths.append(path)
    return paths
