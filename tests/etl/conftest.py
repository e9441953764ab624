"""Fixtures shared by the scraper tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from etl.replay import ReplaySite
from tests.etl.replay_helpers import replay_site


@pytest.fixture
def replay() -> Iterator[ReplaySite]:
    """The local replay of both sites, on loopback, for one test."""
    yield from replay_site()
