"""Content terms per review, extracted once and stored (``review_terms``).

Cluster keywords weigh the nouns of a cluster's reviews (c-TF-IDF, models/scoring/keywords.py).
Analysing every member's text with kiwipiepy each time a title's clusters change made the
nightly cost follow the titles touched, not the reviews added: a title that gained one review
had all of its texts analysed again. Now each review's terms are extracted once, in the score
stage, keyed by the extractor's version, and keywords are computed from the stored terms
(sql/score/cluster_keywords.sql). An edited review loses its terms in the clean stage and gets
new ones, as it gets new scores.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import duckdb
import pyarrow as pa

from core.sqlfiles import read_sql
from models.scoring.keywords import NOUN_TAGS, STOP_NOUNS, nouns

# Bump when the extraction rule changes (tags, stop words, minimum length); the analyzer's own
# version is part of the key too, since a new dictionary changes the terms.
EXTRACTOR = "nouns-v1"


@cache
def terms_version() -> str:
    from importlib.metadata import version

    rule = f"{','.join(NOUN_TAGS)};{len(STOP_NOUNS)}"  # a changed stop list changes the key
    return f"{EXTRACTOR}({rule})+kiwipiepy-{version('kiwipiepy')}"


TERMS_SCHEMA = pa.schema(
    [
        pa.field("review_key", pa.string(), nullable=False),
        pa.field("terms_version", pa.string(), nullable=False),
        pa.field("terms", pa.list_(pa.string()), nullable=False),
    ]
)


def terms_table(keys: list[str], texts: list[str]) -> pa.Table:
    """Pure apart from the analyzer: the rows of ``review_terms`` for these reviews."""
    version = terms_version()
    return pa.table(
        {"review_key": keys, "terms_version": [version] * len(keys), "terms": nouns(texts)},
        schema=TERMS_SCHEMA,
    )


def count_pending_terms(con: duckdb.DuckDBPyConnection) -> int:
    sql = f"SELECT count(*) FROM ({read_sql('score/pending_terms.sql')})"
    rows = con.execute(sql, {"terms_version": terms_version()}).fetchall()
    return int(rows[0][0]) if rows else 0


def extract_pending(
    con: duckdb.DuckDBPyConnection,
    chunk_rows: int,
    advance: Callable[[int], None] = lambda n: None,
) -> int:
    """Extract and store the terms of every review that has none at the current version, one
    transaction per chunk (a kill loses at most the chunk in flight). Returns the reviews."""
    reader_con = con.cursor()  # a snapshot to read while `con` commits chunk by chunk
    pending = reader_con.sql(
        read_sql("score/pending_terms.sql"), params={"terms_version": terms_version()}
    )
    reader = pending.to_arrow_reader(chunk_rows)
    done = 0
    try:
        for batch in reader:
            if batch.num_rows == 0:
                continue
            rows = terms_table(
                batch.column("review_key").to_pylist(), batch.column("text_norm").to_pylist()
            )
            con.register("new_terms", rows)
            try:
                con.execute("INSERT INTO review_terms BY NAME (SELECT * FROM new_terms)")
            finally:
                con.unregister("new_terms")
            done += batch.num_rows
            advance(batch.num_rows)
    finally:
        reader.close()
        reader_con.close()
    return done
