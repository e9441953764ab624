"""The replay site over plain HTTP (no browser): shapes, paging, determinism, fault switches."""

from __future__ import annotations

import itertools
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from etl.replay import Corpus, Fault, ReplaySite, start_replay
from etl.replay.corpus import DEMO_FILMS, film_names
from etl.replay.render import naver_code
from etl.scrape_config import WatchaConfig

# The web app's headers (the scraper's defaults) and a device id, as a browser sends them.
WEB_APP = {**WatchaConfig().api_headers, "x-frograms-device-identifier": "web-test1234"}


@pytest.fixture(scope="module")
def site() -> Iterator[ReplaySite]:
    with start_replay(seed=7) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(site: ReplaySite) -> None:
    site.faults.clear()
    site.log.clear()


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def get_json(url: str, headers: dict[str, str] | None = None) -> Any:
    status, _, body = get(url, headers)
    assert status == 200, body
    return json.loads(body)


def test_corpus_is_deterministic_and_varied() -> None:
    a, b = Corpus(seed=7), Corpus(seed=7)
    film = a.films[0]
    assert [r.text for r in a.reviews("watcha", film)] == [
        r.text for r in b.reviews("watcha", film)
    ]
    assert Corpus(seed=8).reviews("watcha", Corpus(seed=8).films[0]) != a.reviews("watcha", film)
    texts = [r.text for f in a.films for r in a.reviews("naver", f)]
    assert len(set(texts)) / len(texts) > 0.9  # not a handful of repeated lines
    joined = "".join(texts)
    for signal in ("ㅋㅋ", "ㅠㅠ", "^^", "점", "\u200d", "\n"):  # emoticons, "6.3점", ZWJ emoji
        assert signal in joined, signal
    reviews = a.reviews("watcha", film)
    assert all(x.written_at > y.written_at for x, y in itertools.pairwise(reviews))
    watcha = [r for f in a.films for r in a.reviews("watcha", f)]
    # Ratings as both sites give them: integers 1–10, and on Watcha some comments unrated.
    assert {r.rating for r in watcha} == {None, *range(1, 11)}
    assert any(r.improper for r in watcha) and any(len(r.text) > 100 for r in watcha)


def test_film_names_extend_past_the_demo_list() -> None:
    names = film_names(200)
    assert len(names) == len({(n, y) for n, y, _ in names}) == 200
    assert names[: len(DEMO_FILMS)] == list(DEMO_FILMS)


def test_watcha_search_and_paging_by_next_uri(site: ReplaySite) -> None:
    film = site.corpus.film("올드보이", 2003)
    found = get_json(
        f"{site.watcha_url}/api/searches?query=%EC%98%AC%EB%93%9C%EB%B3%B4%EC%9D%B4", WEB_APP
    )
    assert set(found["result"]) == {"top_results", "movies", "tv_seasons"}
    assert {(m["title"], m["year"]) for m in found["result"]["movies"]} == {
        ("올드보이", 2003),
        ("올드보이", 2013),
    }
    assert set(found["result"]["movies"][0]) == {
        "code", "content_type", "title", "year", "ratings_avg"
    }  # fmt: skip
    url: str | None = (
        f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?order=recent&page=1&size=20"
    )
    ids: list[str] = []
    prev = []
    while url:
        page = get_json(url, WEB_APP)["result"]
        ids += [c["code"] for c in page["result"]]
        prev.append(page["prev_uri"])
        url = site.watcha_url + page["next_uri"] if page["next_uri"] else None
    truth = site.corpus.reviews("watcha", film)
    assert ids == [r.review_id for r in truth]
    assert prev[0] is None and all(prev[1:])
    first = get_json(
        f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?order=recent", WEB_APP
    )["result"]["result"][0]
    assert set(first) == {
        "code", "text", "spoiler", "improper", "likes_count", "replies_count", "watched_at",
        "created_at", "user", "user_content_action",
    }  # fmt: skip
    assert first["created_at"].endswith("+09:00")
    assert first["user_content_action"]["rating"] == truth[0].rating


def test_watcha_refuses_clients_that_are_not_the_web_app(site: ReplaySite) -> None:
    film = site.corpus.film("기생충")
    url = f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?page=1"
    for headers in ({}, {**WEB_APP, "x-frograms-client": "watcha-WebApp"}, {
        k: v for k, v in WEB_APP.items() if k != "x-frograms-device-identifier"
    }):  # fmt: skip
        status, _, body = get(url, headers)
        assert status == 403 and json.loads(body)["code"] == "not_allowed_client"
    # The site's pages set the device cookie a first visit lacks.
    for path in ("/ko", f"/ko/contents/{film.watcha_code}"):
        status, headers, _ = get(site.watcha_url + path)
        assert status == 200 and headers["Set-Cookie"].startswith("_c_pdi=web-")
    status, headers, _ = get(site.watcha_url + "/ko", {"Cookie": "_c_pdi=web-known"})
    assert status == 200 and "Set-Cookie" not in headers


def test_robots_txt_as_the_sites_publish_it(site: ReplaySite) -> None:
    assert get(site.watcha_url + "/robots.txt")[2] == "User-agent: *\nDisallow: /api\n"
    assert get(site.naver_url + "/robots.txt")[2] == "User-agent: *\nDisallow: /\n"


def test_naver_page_and_list_api(site: ReplaySite) -> None:
    film = site.corpus.film("기생충")
    query = urllib.parse.quote_plus("영화 기생충 관람평")
    status, _, html = get(f"{site.naver_url}/search.naver?where=nexearch&query={query}")
    assert status == 200
    # 10 cards in the 실관람객 pane, 10 more (other ids) in the hidden 네티즌 pane.
    assert html.count('class="area_card _item"') == 20
    assert html.count('data-tab="netizen" style="display:none"') == 1
    assert f"pkid=68&amp;os={film.naver_os}" in html
    for fact in (
        "data-rating-id=", "data-report-title=", 'data-param="u3=newest"', "_spoiler_switch",
        '<span class="ico_position_auto _switch_text">off</span>', "button.story_more._tail",
    ):  # fmt: skip
        assert fact in html or fact.split(".")[-1] in html, fact
    base = (
        f"{site.naver_url}/p/csearch/content/nqapirender.nhn?where=nexearch&pkid=68"
        f"&fileKey=movieKBPointAPI&u1={naver_code(film)}&u5=true&u3=newest"
    )
    newest = site.corpus.reviews("naver", film)
    second = get_json(base + "&u2=2")["html"]
    assert f'data-rating-id="{newest[10].review_id}"' in second
    last = -(-len(newest) // 10)
    assert get_json(base + f"&u2={last}")["html"] and get_json(base + f"&u2={last + 1}") == {
        "html": ""
    }


def test_fault_switches(site: ReplaySite) -> None:
    film = site.corpus.film("기생충")
    url = f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?page=1&size=5"
    site.faults.add(
        Fault("error", site="watcha", endpoint="comments", times=2),
        Fault("rate_limit", site="watcha", endpoint="comments", times=1, after=2, retry_after_s=7),
    )
    assert [get(url, WEB_APP)[0] for _ in range(2)] == [500, 500]
    status, headers, _ = get(url, WEB_APP)
    assert status == 429 and headers["Retry-After"] == "7"
    assert get(url, WEB_APP)[0] == 200
    assert [e.status for e in site.log.entries("watcha")] == [500, 500, 429, 200]

    site.faults.add(Fault("malformed_json", site="watcha", times=1))
    with pytest.raises(json.JSONDecodeError):
        json.loads(get(url, WEB_APP)[2])
    site.faults.add(Fault("markup_changed", site="watcha", times=1))
    assert "content" in get_json(url, WEB_APP)["result"]["result"][0]

    site.faults.add(Fault("slow", site="watcha", times=1, delay_s=0.3))
    t = time.monotonic()
    get(url)
    assert time.monotonic() - t >= 0.3

    # Watcha's own 429s carry no Retry-After; its WAF answers a page, not JSON.
    site.faults.add(Fault("rate_limit", site="watcha", times=1, retry_after_s=0))
    status, headers, _ = get(url, WEB_APP)
    assert status == 429 and "Retry-After" not in headers
    site.faults.add(Fault("waf", site="watcha", endpoint="comments", times=1))
    status, headers, body = get(url, WEB_APP)
    assert status == 403 and headers["Content-Type"].startswith("text/html") and "<html" in body


def test_faults_by_title_and_admin_api(site: ReplaySite) -> None:
    req = urllib.request.Request(
        f"{site.naver_url}/__replay/faults",
        data=json.dumps([{"kind": "markup_changed", "site": "naver", "title": "곡성"}]).encode(),
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert json.loads(resp.read())[0]["title"] == "곡성"
    q = urllib.parse.quote_plus
    changed = get(f"{site.naver_url}/search.naver?query={q('영화 곡성 관람평')}")[2]
    other = get(f"{site.naver_url}/search.naver?query={q('영화 기생충 관람평')}")[2]
    assert "data-rating-id" not in changed and "data-review-no" in changed
    assert "data-rating-id" in other
    log = get_json(f"{site.naver_url}/__replay/requests")
    assert [r["title"] for r in log] == ["곡성", "기생충"]  # admin calls are not logged
    bad = urllib.request.Request(
        f"{site.naver_url}/__replay/faults", data=b'[{"kind": "explode"}]', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(bad, timeout=5)
    assert err.value.code == 400


def test_latency_applies_to_every_response() -> None:
    with ReplaySite(Corpus(seed=1), latency_s=0.1) as slow:
        t = time.monotonic()
        get(f"{slow.watcha_url}/api/searches?query=x")
        assert time.monotonic() - t >= 0.1
