"""Configuration of the scrapers: politeness, limits, and each site's endpoints and selectors.

Selectors and endpoints live here, not in code, because sites change their markup.
Every base URL is configurable so the same code can crawl a local replay of the site.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from core.frozen import Frozen


class NaverConfig(Frozen):
    """Naver's search-result review cards. Every default is a fact from the site contract
    (docs/sources/naver.md), which names its public source; `kreview scrape --probe` checks
    them against the live page."""

    enabled: bool = True
    base_url: str = "https://search.naver.com"
    # {query} is filled with the URL-encoded query built from `query_template`.
    search_path: str = "/search.naver?where=nexearch&query={query}"
    query_template: str = "영화 {title} 관람평"
    # Used instead when the titles list gives a year (names clash: 기생충 1960 vs 2019).
    query_template_year: str = "영화 {title} {year} 관람평"
    # Scoped to the 실관람객 pane: the hidden 네티즌 pane holds a list (and cards) of its own.
    item_selector: str = (
        'div._content[data-tab="audience"] div.lego_review_list._scroller > ul > li.area_card._item'
    )
    review_id_attribute: str = "data-rating-id"
    # The card's full text; the shown text (`text_selector`) is cut for long reviews. None:
    # read the shown text, after clicking `more_button_selector` on every cut card.
    full_text_attribute: str | None = "data-report-title"
    text_selector: str = "span.desc._text"
    # 펼쳐보기: shows the rest of a cut text. Every card has one; it is hidden
    # (style display:none) where the text is not cut.
    more_button_selector: str = "button.story_more._tail"
    rating_selector: str = "div.area_text_box"
    author_selector: str = "dd.this_text_stress._btn_writer"
    date_selector: str = "dd.this_text_normal"
    likes_selector: str = "button.area_button_upvote span._count_num"
    spoiler_selector: str = "span.lego_text_spoiler._review_spoiler_text"
    # The switch that shows spoiler reviews' texts, clicked while its state text (inside it)
    # reads "off". None: leave it; spoiler texts the page hides are then counted as hidden
    # (`spoiler_hidden` in the title's outcome).
    spoiler_switch_selector: str | None = (
        'div._content[data-tab="audience"] div._spoiler_switch'
        ' > button.btn_area_auto[title="스포일러"]'
    )
    spoiler_switch_state_selector: str = "span._switch_text"
    # The scrolling box that loads more cards as it scrolls.
    scroll_container_selector: str = (
        'div._content[data-tab="audience"] div.lego_review_list._scroller'
    )
    # The paths of the list API the box loads its cards from: the page's configured
    # m.search.naver.com one and the 2026 ts-proxy.naver.com one. Its calls carry a JSONP
    # `_callback`, so the browser loads them as <script>: requests to these paths are paced by
    # the host gate and their statuses read, like an XHR's.
    list_api_paths: tuple[str, ...] = (
        "/p/csearch/content/nqapirender.nhn",
        "/dcontent/nqapirender.nhn",
    )
    # An element whose text holds the number of reviews the page promises. The page has none
    # today (its only number counts raters): None, and the list is scrolled until it ends.
    count_selector: str | None = None
    # Naver's own id of the film: the `os=` parameter of the tab links (pkid=68&os=...).
    # A page with reviews but no such link falls back to the search query as the id.
    title_link_selector: str = 'a[href*="os="]'
    title_id_pattern: str = r"[?&]os=(\d+)"
    # The 최신순 (newest first) item of the sorting menu, clicked on every title: incremental
    # scraping stops at the first review already collected, which is only right when the list
    # is newest first. None: keep the page's order (공감순).
    recent_tab_selector: str | None = (
        'div._content[data-tab="audience"] div._sorting_wrap li._tab[data-param="u3=newest"] > a'
    )
    # Ratings on the card are 1-10; raw ratings are 0-10: × this.
    rating_scale: float = Field(default=1.0, gt=0)
    # After a scroll, how long to wait for new cards before counting a stall; after
    # `scrape.retries` stalls in a row the list is taken as finished (or failed, if the
    # page's own requests were failing).
    scroll_wait_s: float = Field(default=3.0, gt=0)


class WatchaConfig(Frozen):
    """Watcha Pedia's JSON API, called from inside the web app's own page. Every default is a
    fact from the site contract (docs/sources/watcha.md), which names its public source."""

    enabled: bool = True
    # The API is same-origin with the web app now (older clients used api-pedia.watcha.com).
    api_base_url: str = "https://pedia.watcha.com"
    web_base_url: str = "https://pedia.watcha.com"
    # Opened first for each title, so the site sets its cookies (`device_cookie`); the API is
    # then called from this page: same origin, its cookies, a Referer on the site.
    session_page_path: str = "/ko"
    # The title's page, opened once its code is known; the comments are fetched from it.
    content_page_path: str = "/ko/contents/{content_id}"
    search_path: str = "/api/searches?query={query}"
    # order=recent, not the site's default "popular": incremental scraping stops at the first
    # review already collected, which is only right when the list is newest first.
    comments_path: str = (
        "/api/contents/{content_id}/comments?filter=all&order=recent&page={page}&size={size}"
    )
    page_size: int = Field(default=20, ge=1, le=100)
    # Per-review link recorded in raw `url`.
    comment_url_path: str = "/ko/comments/{comment_id}"
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
    # Comments Watcha marks as improper are kept, flagged, and quarantined by the clean stage.
    improper_field: str = "improper"
    # The API gives integers 1-10 (10 = 5 stars), already the 0-10 scale of raw: × 1.
    rating_scale: float = Field(default=1.0, gt=0)
    # Headers the web app sends; without them the API answers 403 not_allowed_client.
    api_headers: dict[str, str] = Field(
        default_factory=lambda: {
            "accept": "application/vnd.frograms+json;version=2.1.0",
            "x-frograms-app-code": "Galaxy",
            "x-frograms-client": "Galaxy-Web-App",
            "x-frograms-client-version": "2.1.0",
            "x-frograms-version": "2.1.0",
            "x-frograms-galaxy-language": "ko",
            "x-frograms-galaxy-region": "KR",
        }
    )
    # The device id header, filled from the cookie the site sets ({cookie}: its value).
    device_cookie: str = "_c_pdi"
    device_header: str = "x-frograms-device-identifier"
    device_header_template: str = "{cookie}"


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
    # None: the launched browser's own User-Agent with `HeadlessChrome` made `Chrome`.
    user_agent: str | None = None
    # What to do about robots.txt (read once per host; see etl/robots.py). "warn", not "obey":
    # the pages this tool exists to read (Naver's search results, Watcha's /api) are ones the
    # sites' robots.txt may disallow, so "obey" would collect nothing with the shipped defaults;
    # "warn" fetches them but logs each disallowed rule and reports the hits, so the operator
    # decides knowingly. "obey" skips them (Scrapy's ROBOTSTXT_OBEY); "ignore" does not read it.
    robots_txt: Literal["obey", "warn", "ignore"] = "warn"
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
    # A title fails (its reviews are not kept) when more than this share of its ratings fall
    # outside 0-10 after the source's rating_scale: a wrong scale, not a few bad items.
    max_bad_rating_share: float = Field(default=0.05, ge=0, le=1)
    # The scrape fails (non-zero exit, ledger "failed") when a source fails for more than this
    # share of its titles (not-found titles do not count); 0 = any failed title fails it.
    max_failed_title_share: float = Field(default=0.5, ge=0, le=1)
    # A scrape killed mid-way: the next one skips titles it finished within this many hours.
    resume_window_h: float = Field(default=12.0, ge=0)
    # None: a random salt is created once and kept in <warehouse>/.author_salt.
    author_salt: str | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "ScrapeConfig":
        if self.min_per_title > self.max_per_title:
            raise ValueError("min_per_title must not exceed max_per_title")
        return self


class ScrapeStageConfig(Frozen):
    """What the scrape stage sees: its own section and the sites'."""

    scrape: ScrapeConfig = ScrapeConfig()
    sources: SourcesConfig = SourcesConfig()
