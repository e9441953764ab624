from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from etl.titles import TitlesError, load_titles, parse_titles, title_id


def test_names_years_comments_and_blank_lines() -> None:
    entries = parse_titles(
        "# demo\n기생충\n\n올드보이\t2003\n  # indented comment\n올드보이\t2013\n"
    )
    assert [(e.name, e.year) for e in entries] == [
        ("기생충", None),
        ("올드보이", 2003),
        ("올드보이", 2013),
    ]
    assert entries[1].title_id != entries[2].title_id  # the year tells clashing names apart
    assert entries[1].label == "올드보이 (2003)"


def test_id_is_stable_and_ignores_spacing_case_and_normal_form() -> None:
    assert title_id("살인의 추억", 2003) == title_id("살인의  추억 ", 2003)
    decomposed = unicodedata.normalize("NFD", "살인의 추억")
    assert decomposed != "살인의 추억"
    assert title_id(decomposed, 2003) == title_id("살인의 추억", 2003)
    assert title_id("Oldboy") == title_id("OLDBOY")
    assert title_id("기생충") != title_id("기생충", 2019)
    # Pinned: the id is the identity across sites and runs; changing it orphans raw rows.
    assert (
        title_id("기생충", 2019)
        == "t" + __import__("hashlib").sha256("기생충\x1f2019".encode()).hexdigest()[:15]
    )


def test_repeated_entry_kept_once() -> None:
    assert len(parse_titles("기생충\n기생충 \n")) == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [("기생충\t19\n", r"<titles>:1: year must be four digits"), ("\t2019\n", r":1: empty title")],
)
def test_bad_lines_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TitlesError, match=message):
        parse_titles(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TitlesError, match="titles file not found"):
        load_titles(tmp_path / "nope.txt")


def test_demo_titles_file_parses() -> None:
    from etl.replay import DEMO_TITLES

    entries = load_titles(DEMO_TITLES)
    assert len(entries) > 30
    assert ("올드보이", 2003) in [(e.name, e.year) for e in entries]


def test_a_huge_line_is_refused_with_a_short_echo() -> None:
    with pytest.raises(TitlesError) as info:
        parse_titles("기생충\n" + "가" * 10_000 + "\n")
    message = str(info.value)
    assert message.startswith("<titles>:2: a title of 10,000 characters (at most 300)")
    assert len(message) < 200 and message.endswith("…'")


def test_a_list_without_titles_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "titles.txt"
    path.write_text("# nothing yet\n\n", encoding="utf-8")
    with pytest.raises(TitlesError, match="lists no title"):
        load_titles(path)


def test_a_cp949_list_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "titles.txt"
    path.write_bytes("기생충\n".encode() + "괴물\n".encode("cp949"))
    with pytest.raises(TitlesError, match=r"titles.txt:2: not UTF-8"):
        load_titles(path)
