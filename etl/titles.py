"""The titles list: which films to collect, and each one's kreview ``title_id``.

One title per line: ``name`` or ``name<TAB>year``; blank lines and ``#`` comments are skipped.
The entry (name, and year where names clash) is a title's identity across sites: every source
resolves it to its own id, and both are recorded, so Naver and Watcha reviews of one film meet.

A name longer than ``MAX_NAME_CHARS`` is refused (no film title is that long: it is a pasted
paragraph or a file that is not a titles list), and so is a list with no title at all (a
scrape of it would collect nothing). Error lines echo at most ``ECHO_CHARS`` of a line.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from core.errors import UsageError

_SPACES = re.compile(r"\s+")
_YEAR = re.compile(r"^\d{4}$")
MAX_NAME_CHARS = 300
ECHO_CHARS = 80


class TitlesError(UsageError, ValueError):
    """The titles list cannot be read; the message names the file and line (exit 2)."""


def _echo(text: str) -> str:
    """``text`` quoted for an error line, cut to ECHO_CHARS characters."""
    return repr(text if len(text) <= ECHO_CHARS else text[: ECHO_CHARS - 1] + "…")


@dataclass(frozen=True)
class TitleEntry:
    title_id: str
    name: str
    year: int | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({self.year})" if self.year else self.name


def canonical_name(name: str) -> str:
    """NFC, single spaces, casefolded: the form the id is computed from (so that a stray space
    or a decomposed Hangul syllable from a copy-paste does not make a second title)."""
    return _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip().casefold()


def title_id(name: str, year: int | None = None) -> str:
    """Stable id of a titles-list entry: ``t`` + 15 hex chars of sha256(name, year)."""
    key = f"{canonical_name(name)}\x1f{year or ''}"
    return "t" + hashlib.sha256(key.encode()).hexdigest()[:15]


def parse_titles(text: str, origin: str = "<titles>") -> list[TitleEntry]:
    """Entries in file order; a repeated entry is kept once."""
    out: list[TitleEntry] = []
    seen: set[str] = set()
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, _, year_text = line.partition("\t")
        name = _SPACES.sub(" ", unicodedata.normalize("NFC", name)).strip()
        year_text = year_text.strip()
        if not name:
            raise TitlesError(f"{origin}:{lineno}: empty title name")
        if len(name) > MAX_NAME_CHARS:
            raise TitlesError(
                f"{origin}:{lineno}: a title of {len(name):,} characters (at most "
                f"{MAX_NAME_CHARS}): {_echo(name)}"
            )
        year: int | None = None
        if year_text:
            if not _YEAR.match(year_text):
                raise TitlesError(
                    f"{origin}:{lineno}: year must be four digits, got {_echo(year_text)}"
                )
            year = int(year_text)
        entry = TitleEntry(title_id(name, year), name, year)
        if entry.title_id not in seen:
            seen.add(entry.title_id)
            out.append(entry)
    return out


def load_titles(path: Path) -> list[TitleEntry]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TitlesError(f"titles file not found: {path}") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise TitlesError(
            f"{path}:{line}: not UTF-8 (byte 0x{exc.object[exc.start]:02x})",
            hint="save the titles list as UTF-8",
        ) from None
    except OSError as exc:
        raise TitlesError(f"cannot read titles file {path}: {exc.strerror}") from None
    titles = parse_titles(text, str(path))
    if not titles:
        raise TitlesError(
            f"the titles file {path} lists no title (only blank lines or # comments): "
            "a scrape of it would collect nothing",
            hint="one title per line: name, or name<TAB>year",
        )
    return titles
