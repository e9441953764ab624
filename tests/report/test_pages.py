"""The page templates (etl/report/templates/): text from the warehouse is escaped by default
on every page kind, a name a page was not given is an error, and the cells keep their form.
The browser tests (test_browser.py) open the same hostile pages in Chromium."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import StrictUndefined, UndefinedError
from markupsafe import Markup, escape

from etl.report import pages
from etl.report.glyphs import Glyphs
from tests.report.conftest import (
    HOSTILE,
    HOSTILE_ID,
    HOSTILE_REVIEW,
    HOSTILE_TITLE,
    Hostile,
)


class Parsed(HTMLParser):
    """A page as a browser's parser reads it: the tags it opens, the text it shows and the
    attribute values (character references decoded)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(k, v or "") for k, v in attrs]

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)

    def values(self, name: str) -> list[str]:
        return [v for k, v in self.attrs if k == name]


def _pages(hostile: Hostile, glyphs: Glyphs, tmp_path: Path) -> dict[str, str]:
    return {k: p.read_text("utf-8") for k, p in hostile.write(tmp_path, glyphs).items()}


def test_hostile_text_is_escaped_on_every_page_kind(
    hostile: Hostile, glyphs: Glyphs, tmp_path: Path
) -> None:
    html = _pages(hostile, glyphs, tmp_path)
    for kind, page in html.items():
        assert "<script>alert" not in page and "<b>bold" not in page, kind
        assert str(escape(HOSTILE)) in page, kind  # escaped once: &lt;script&gt; … &amp;amp;
        parsed = Parsed(page)
        assert parsed.tags.count("script") == 1 and "b" not in parsed.tags, kind  # report.js
        assert HOSTILE in parsed.text, kind  # shows as the text it is, not double-escaped

    index = Parsed(html["index"])
    assert HOSTILE_TITLE in index.texts  # the title's link
    assert HOSTILE_TITLE in index.values("data-value")  # sorting reads the name as it is
    assert HOSTILE_ID in index.values("data-title-id")
    assert f"{HOSTILE_TITLE} {HOSTILE_ID}".casefold() in index.values("data-filter")
    assert f"titles/{pages.title_file(HOSTILE_ID)}" in index.values("href")

    title = Parsed(html["title"])
    assert f"{HOSTILE_TITLE} · kreview" in title.texts  # <title>
    assert title.texts.count(HOSTILE_TITLE) == 1 and HOSTILE_ID in title.texts  # h1, id
    t = hostile.title
    n_reviews = len(t.clusters) + len(t.disagreements) + len(t.rating_gaps)
    assert title.texts.count(HOSTILE_REVIEW) == n_reviews > len(t.rating_gaps) > 0
    assert f"{HOSTILE}, 연기" in title.texts  # a cluster's keywords
    assert HOSTILE in title.values("data-value")  # the emotion's cell

    run = Parsed(html["run"])
    assert run.texts.count(HOSTILE) >= 2 * len(hostile.data.run.stages) > 0  # command, errors
    assert f"models/{HOSTILE}/{HOSTILE}.png" in run.values("src")
    assert f"{HOSTILE}.png" in run.values("alt")


def test_charts_are_the_only_markup_passed_in(
    hostile: Hostile, glyphs: Glyphs, tmp_path: Path
) -> None:
    """The emotion chart draws the hostile emotion name as glyph outlines: no text of it in
    the SVG, so marking the chart safe passes no text through unescaped."""
    page = _pages(hostile, glyphs, tmp_path)["title"]
    svgs = page.split('<svg class="chart"')[1:]
    assert len(svgs) == 4
    for svg in svgs:
        svg = svg.split("</svg>")[0]
        assert "script" not in svg and "quotes" not in svg and "bold" not in svg


def test_templates_autoescape_and_refuse_unknown_names() -> None:
    env = pages.environment()
    assert env.autoescape is True and env.undefined is StrictUndefined
    assert env.from_string("{{ x }}").render(x="<i>") == "&lt;i&gt;"
    assert env.from_string("{{ x }}").render(x=Markup("<i>")) == "<i>"
    assert env.from_string("[{{ x }}]").render(x=None) == "[]"  # NULL shows as nothing
    with pytest.raises(UndefinedError):
        env.get_template("run.html").render()  # a page without its data fails, loudly
    with pytest.raises(UndefinedError):
        env.from_string("{{ row.no_such_column }}").render(row={})


def test_cells_keep_their_form() -> None:
    macros = pages.environment().get_template("tables.html").module
    assert str(macros.num(1234.5678)) == ('<td class="num" data-value="1234.5678">1,234.57</td>')
    assert str(macros.num(None)) == '<td class="num" data-value="">–</td>'
    assert str(macros.num(True)) == '<td class="num" data-value="1">yes</td>'
    assert str(macros.text(None)) == '<td data-value=""></td>'
    assert str(macros.text('a "b" & <c>')) == (
        '<td data-value="a &#34;b&#34; &amp; &lt;c&gt;">a &#34;b&#34; &amp; &lt;c&gt;</td>'
    )
    row = {"a": 0.12345, "b": "x<y"}
    assert str(macros.cells(row, [("a", 3), ("b", None)])) == (
        '<td class="num" data-value="0.12345">0.123</td><td data-value="x&lt;y">x&lt;y</td>'
    )
    empty = macros.table([("h", "text")], [], {"id": "t"}, empty="nothing <here>")
    assert str(empty) == '<p class="muted empty">nothing &lt;here&gt;</p>'


def test_the_page_kinds_are_templates_on_one_layout() -> None:
    env = pages.environment()
    names = set(env.list_templates())
    assert {"base.html", "index.html", "title.html", "run.html", "tables.html"} <= names
    for kind in ("index.html", "title.html", "run.html"):
        source = env.loader.get_source(env, kind)[0]
        assert '{% extends "base.html" %}' in source
