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


@pytest.fixture(scope="module")
def site() -> Iterator[ReplaySite]:
    with start_replay(seed=7) as s:
        yield s


@pytest.fixture(autouse=True)
def _clean(site: ReplaySite) -> None:
    site.faults.clear()
    site.log.clear()


def get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def get_json(url: str) -> Any:
    status, _, body = get(url)
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
    assert {r.stars for f in a.films for r in a.reviews("watcha", f)} <= {
        x / 2 for x in range(1, 11)
    }


def test_film_names_extend_past_the_demo_list() -> None:
    names = film_names(200)
    assert len(names) == len({(n, y) for n, y, _ in names}) == 200
    assert names[: len(DEMO_FILMS)] == list(DEMO_FILMS)


def test_watcha_search_and_paging_by_next_uri(site: ReplaySite) -> None:
    film = site.corpus.film("올드보이", 2003)
    found = get_json(f"{site.watcha_url}/api/searches?query=%EC%98%AC%EB%93%9C%EB%B3%B4%EC%9D%B4")
    assert {(m["title"], m["year"]) for m in found["result"]["movies"]} == {
        ("올드보이", 2003),
        ("올드보이", 2013),
    }
    url: str | None = (
        f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?order=recent&page=1&size=20"
    )
    ids: list[str] = []
    while url:
        page = get_json(url)["result"]
        ids += [c["code"] for c in page["result"]]
        url = site.watcha_url + page["next_uri"] if page["next_uri"] else None
    assert ids == [r.review_id for r in site.corpus.reviews("watcha", film)]


def test_naver_page_and_scroll_endpoint(site: ReplaySite) -> None:
    film = site.corpus.film("기생충")
    query = urllib.parse.quote_plus("영화 기생충 관람평")
    status, _, html = get(f"{site.naver_url}/search.naver?query={query}")
    assert status == 200
    assert html.count('class="area_card _item"') == 10
    assert f"os={film.naver_os}" in html and f"<em>{film.count('naver')}</em>" in html
    more = get_json(
        f"{site.naver_url}/api/review_list?os={film.naver_os}&sort=recent&start=10&display=10"
    )
    assert more["count"] == 10 and more["has_more"] is True
    newest = site.corpus.reviews("naver", film)
    assert f'data-report-id="{newest[10].review_id}"' in more["html"]


def test_fault_switches(site: ReplaySite) -> None:
    film = site.corpus.film("기생충")
    url = f"{site.watcha_url}/api/contents/{film.watcha_code}/comments?page=1&size=5"
    site.faults.add(
        Fault("error", site="watcha", endpoint="comments", times=2),
        Fault("rate_limit", site="watcha", endpoint="comments", times=1, after=2, retry_after_s=7),
    )
    assert [get(url)[0] for _ in range(2)] == [500, 500]
    status, headers, _ = get(url)
    assert status == 429 and headers["Retry-After"] == "7"
    assert get(url)[0] == 200
    assert [e.status for e in site.log.entries("watcha")] == [500, 500, 429, 200]

    site.faults.add(Fault("malformed_json", site="watcha", times=1))
    with pytest.raises(json.JSONDecodeError):
        json.loads(get(url)[2])
    site.faults.add(Fault("markup_changed", site="watcha", times=1))
    assert "content" in get_json(url)["result"]["result"][0]

    site.faults.add(Fault("slow", site="watcha", times=1, delay_s=0.3))
    t = time.monotonic()
    get(url)
    assert time.monotonic() - t >= 0.3


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
    assert "area_card _item" not in changed and "review_item_v2" in changed
    assert "area_card _item" in other
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
