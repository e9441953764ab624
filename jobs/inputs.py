"""What the CLI and the HTTP API accept: texts, input files and output paths.

One validator per kind of input, shared by ``kreview predict`` / ``similarity`` and
``/v1/predict`` / ``/v1/similarity``, so both refuse the same things. Every refusal is a
``UsageError`` (exit 2; a 422 in the API) whose message names the file and line.

Texts. A text must hold a character other than white space: ``similarity "" ""`` and a
whitespace-only API text are refused. In an input file, blank lines are separators, not texts,
and are skipped.

Encodings. Input files and stdin must be UTF-8. A file with invalid bytes is refused as a
whole, naming its first bad lines, and nothing is scored: the output of ``predict`` follows
the input line by line, and a silently dropped line would shift every record after it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from core.errors import UsageError

# Echoes of user input in error lines are cut to this many characters.
ECHO_CHARS = 80
# Bad lines named in one refusal.
SHOWN_BAD_LINES = 5
ICONV_HINT = "convert it to UTF-8, e.g. `iconv -f cp949 -t utf-8 FILE > FILE.utf8`"


def shown(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` for an error line: one line, at most ``limit`` characters (``…`` when cut)."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


# Unicode White_Space (not Python's str.isspace, which adds the \x1c-\x1f separators): the
# set the API's JSON schema pattern names too, so a client's validator agrees with ours.
WHITE_SPACE = (
    "\t\n\x0b\x0c\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
NOT_BLANK_PATTERN = "[^" + "".join(f"\\u{ord(c):04x}" for c in WHITE_SPACE) + "]"


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be scored, or None. The rule both the CLI and the API apply."""
    if not text.strip(WHITE_SPACE):
        return "is empty or only white space"
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return "holds a lone surrogate (not valid Unicode)"
    return None


def check_text(text: str, what: str) -> str:
    """``text`` if it can be scored, else UsageError naming ``what`` (e.g. "sentence 1")."""
    problem = text_problem(text)
    if problem:
        raise UsageError(f"{what} {problem}")
    return text


def decode_lines(data: bytes, origin: str) -> list[str]:
    """The lines of ``data`` (UTF-8, a BOM allowed), or UsageError naming the bad lines."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines: list[str] = []
    bad: list[int] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.rstrip(b"\r").decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(number)
    if bad:
        others = ""
        if len(bad) > 1:
            listed = ", ".join(str(n) for n in bad[:SHOWN_BAD_LINES])
            more = ", …" if len(bad) > SHOWN_BAD_LINES else ""
            others = f" ({len(bad)} lines are: {listed}{more})"
        raise UsageError(
            f"{origin}:{bad[0]}: not valid UTF-8{others}; nothing was read", hint=ICONV_HINT
        )
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return lines


def read_input_lines(source: str, stdin: BinaryIO | None = None) -> tuple[str, list[str]]:
    """``(origin, lines)`` of a file, or of stdin for ``-``."""
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return "<stdin>", decode_lines(stream.read(), "<stdin>")
    return source, decode_lines(read_input_file(Path(source), "input file"), source)


def read_input_file(path: Path, what: str) -> bytes:
    """The bytes of ``path``, or a UsageError naming ``what`` and the reason."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: not found") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {path}: is a directory, not a file") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read ({exc.strerror})") from None


def numbered_texts(lines: Iterable[str]) -> list[tuple[int, str]]:
    """``(line number, text)`` of the lines that are texts (blank lines are skipped)."""
    return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]


# ---------------------------------------------------------------------------- outputs


def _nearest_existing(path: Path) -> Path:
    for folder in (path, *path.parents):
        if folder.exists():
            return folder
    return Path("/")


def check_out_file(path: Path, option: str) -> Path:
    """A file the command may create or replace: its folder exists and is writable, and it is
    not itself a folder. Checked before any work; creates nothing."""
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory; name a file")
    parent = path.absolute().parent
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: the directory {parent} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{option} {path}: the file is not writable")
    return path


def check_out_dir(path: Path, option: str) -> Path:
    """A folder the command may create and write into. Checked before any work; creates
    nothing."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path}: is a file, not a directory")
    base = _nearest_existing(path.absolute())
    if not base.is_dir():
        raise UsageError(f"{option} {path}: {base} is a file, not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: {base} is not writable")
    return path
