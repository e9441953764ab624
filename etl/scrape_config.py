"""Configuration of the scrapers: politeness, limits, and each site's endpoints and selectors.

Selectors and endpoints live here, not in code, because sites change their markup.
Every base URL is configurable so the same code can crawl a local replay of the site.
"""

from pathlib import Path

from pydantic import Field, model_validator

from jobs.frozen import Frozen


class NaverConfig(Frozen):
    enabled: bool = True
    base_url: str = "https://search.naver.com"
    # {query} is filled with the URL-encoded query built from `query_template`.
    search_path: str = "/search.naver?query={query}"
    query_template: str = "영화 {title} 관람평"
    item_selector: str = "li.area_card._item"
    text_selector: str = "span.desc._text"
    rating_selector: str = "div.area_text_box"
    author_selector: str = "dl.cm_upload_info dd.this_text_stress"
    date_selector: str = "dl.cm_upload_info dd.this_text_normal"
    likes_selector: str = "button.area_button_upvote span.this_text_stress"
    spoiler_selector: str = ".area_spoiler, ._spoiler"
    # The scrolling box that loads more cards as it scrolls.
    scroll_container_selector: str = "div.lego_review_list._scroller"
    # An element whose text holds the number of reviews the page promises.
    count_selector: str = "span.area_card_count, ._total_count"
    review_id_attribute: str = "data-report-id"


class WatchaConfig(Frozen):
    enabled: bool = True
    api_base_url: str = "https://api-pedia.watcha.com"
    web_base_url: str = "https://pedia.watcha.com"
    search_path: str = "/api/searches?query={query}"
    comments_path: str = (
        "/api/contents/{content_id}/comments?filter=all&order=popular&page={page}&size={size}"
    )
    page_size: int = Field(default=20, ge=1, le=100)
    comment_page_path: str = "/ko-KR/contents/{content_id}/comments"


class SourcesConfig(Frozen):
    naver: NaverConfig = NaverConfig()
    watcha: WatchaConfig = WatchaConfig()


class ScrapeConfig(Frozen):
    titles_file: Path = Path("titles.txt")
    chromium_path: Path = Path("/usr/bin/chromium")
    headless: bool = True
    min_per_title: int = Field(default=30, ge=0)
    max_per_title: int = Field(default=150, ge=1)
    max_concurrency_per_host: int = Field(default=2, ge=1, le=16)
    min_interval_s: float = Field(default=1.0, ge=0)
    jitter_s: float = Field(default=0.3, ge=0)
    timeout_s: float = Field(default=20.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # None: a random salt is created once and kept in <warehouse>/.author_salt.
    author_salt: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "ScrapeConfig":
        if self.min_per_title > self.max_per_title:
            raise ValueError("min_per_title must not exceed max_per_title")
        return self
