from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from etl.sources import RecordContext
from etl.titles import TitleEntry, title_id

FIXTURES = Path(__file__).with_name("fixtures")
SCRAPED_AT = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
SALT = "test-salt"


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> Any:
    return json.loads(fixture_text(name))


@pytest.fixture
def entry() -> TitleEntry:
    return TitleEntry(title_id("기생충", 2019), "기생충", 2019)


def record_context(source: str, entry: TitleEntry, source_title_id: str) -> RecordContext:
    return RecordContext(source, entry, source_title_id, SALT, "run-1", SCRAPED_AT)


def changed_naver_page() -> str:
    """naver_page.html after a (made-up) redesign, as the replay's `markup_changed` fault
    renders it: the same cards, the review id moved to `data-review-no` and the rating box
    to `div.area_star_box`. The configured selectors match nothing: the first page fails."""
    html = fixture_text("naver_page.html")
    return html.replace("data-rating-id=", "data-review-no=").replace(
        '"area_text_box"', '"area_star_box"'
    )
