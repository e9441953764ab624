"""Names that sort by creation time: run ids and model versions."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime


def sortable_id(now: datetime | None = None) -> str:
    """Sortable, unique: ``20261123T030000Z-123abc``: the second in UTC, then its millisecond
    (so two ids made within one second still sort by creation: `latest` snapshots, pruning,
    "the newest run" and `kreview models list` all compare names), then 3 random hex digits
    (so two processes in the same millisecond still get different names)."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{now.microsecond // 1000:03d}{secrets.token_hex(2)[:3]}"
