"""The benchmarks' raw records follow the raw contract: a schema change must fail here, not
leave every benchmark that writes raw broken (as the `improper` column once did)."""

from __future__ import annotations

import polars as pl

from bench.corpus import to_raw
from etl.raw_schema import RAW_SCHEMA


def test_pool_rows_become_raw_records_of_the_contract() -> None:
    pool = pl.DataFrame(
        {
            "id": [1, 2],
            "movie_id": [10001, 10002],
            "rating": [9, 2],
            "document": ["감동ㅠㅠ 최고", None],
            "date": ["24.06.12", "24.06.13"],
        }
    )
    raw = to_raw(pool, "bench-run").to_arrow()
    assert raw.schema.names == RAW_SCHEMA.names
    assert raw.cast(RAW_SCHEMA).column("rating").to_pylist() == [9.0, 2.0]
    assert raw.column("text").to_pylist() == ["감동ㅠㅠ 최고", ""]
