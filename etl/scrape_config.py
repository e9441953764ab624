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
    # Used instead when the titles list gives a year (names clash: 기생충 1960 vs 2019).
    query_template_year: str = "영화 {title} {year} 관람평"
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
    # Naver's own id of the film: the `os=` parameter of the title link in the result panel.
    # A page with reviews but no such link falls back to the search query as the id.
    title_link_selector: str = 'a[href*="os="]'
    title_id_pattern: str = r"[?&]os=(\d+)"
    # The "최신순" (newest first) tab. Incremental scraping stops at the first review already
    # collected, which is only right when the list is newest first. None: keep the page's order.
    recent_tab_selector: str | None = "a._sort_tab[data-sort='recent']"
    # After a scroll, how long to wait for new cards before counting a stall; after
    # `scrape.retries` stalls in a row the list is taken as finished (or failed, if the
    # page's own requests were failing).
    scroll_wait_s: float = Field(default=3.0, gt=0)


class WatchaConfig(Frozen):
    enabled: bool = True
    api_base_url: str = "https://api-pedia.watcha.com"
    web_base_url: str = "https://pedia.watcha.com"
    search_path: str = "/api/searches?query={query}"
    # order=recent, not the site's default "popular": incremental scraping stops at the first
    # review already collected, which is only right when the list is newest first.
    comments_path: str = (
        "/api/contents/{content_id}/comments?filter=all&order=recent&page={page}&size={size}"
    )
    page_size: int = Field(default=20, ge=1, le=100)
    comment_page_path: str = "/ko-KR/contents/{content_id}/comments"
    # Per-review link recorded in raw `url`.
    comment_url_path: str = "/ko-KR/comments/{comment_id}"
    # JSON fields, as dotted paths into the payload (search) or into one comment (the rest).
    search_list_field: str = "result.movies"
    search_id_field: str = "code"
    search_title_field: str = "title"
    search_year_field: str = "year"
    list_field: str = "result.result"
    next_field: str = "result.next_uri"
    id_field: str = "code"
    text_field: str = "text"
    rating_field: str = "user_content_action.rating"
    author_field: str = "user.code"
    date_field: str = "created_at"
    likes_field: str = "likes_count"
    spoiler_field: str = "spoiler"
    # The API gives 0.5–5 stars; raw ratings are on a 0–10 scale.
    rating_scale: float = Field(default=2.0, gt=0)
    # Headers Watcha's web app sends; the API answers without them less reliably.
    api_headers: dict[str, str] = Field(
        default_factory=lambda: {
            "x-watcha-client": "watcha-WebApp",
            "x-watcha-client-language": "ko",
            "x-watcha-client-region": "KR",
            "x-watcha-client-version": "2.1.0",
        }
    )


class SourcesConfig(Frozen):
    naver: NaverConfig = NaverConfig()
    watcha: WatchaConfig = WatchaConfig()


class ScrapeConfig(Frozen):
    titles_file: Path = Path("titles.txt")
    chromium_path: Path = Path("/usr/bin/chromium")
    headless: bool = True
    # --no-sandbox: the job runs as root in containers, where Chromium's sandbox cannot start.
    chromium_args: tuple[str, ...] = (
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-gpu",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    )
    # Never fetched: they cost the sites bandwidth and carry no review data.
    blocked_resource_types: tuple[str, ...] = ("image", "media", "font")
    user_agent: str | None = None
    min_per_title: int = Field(default=30, ge=0)
    max_per_title: int = Field(default=150, ge=1)
    max_concurrency_per_host: int = Field(default=2, ge=1, le=16)
    min_interval_s: float = Field(default=1.0, ge=0)
    jitter_s: float = Field(default=0.3, ge=0)
    timeout_s: float = Field(default=20.0, gt=0)
    retries: int = Field(default=4, ge=0, le=20)
    backoff_base_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=60.0, ge=0)
    # A 429 whose Retry-After asks for longer than this fails the request instead of waiting.
    retry_after_max_s: float = Field(default=300.0, ge=0)
    # How much of an unparseable item or payload the quarantine keeps.
    snippet_chars: int = Field(default=2000, ge=100)
    # None: a random salt is created once and kept in <warehouse>/.author_salt.
    author_salt: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "ScrapeConfig":
        if self.min_per_title > self.max_per_title:
            raise ValueError("min_per_title must not exceed max_per_title")
        return self
