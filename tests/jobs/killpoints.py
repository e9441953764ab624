"""Run `kreview` and SIGKILL it at a deterministic point (the crash-safety test's launcher).

    KREVIEW_TEST_KILL_AT='{"func": "models.scoring.batch:write_chunk", "n": 2}' \\
        python -m tests.jobs.killpoints run --from clean

The process kills itself (SIGKILL: no handler, no ``finally``, no rollback in Python) at the
``n``-th ``event`` of ``func`` (``module:qualname``):

- ``call`` / ``return``: the function is entered / left;
- ``c_call``: ``func`` (or a comprehension inside it) calls the builtin named ``c_name``,
  killed just before that call runs. Only CPython builtins raise this event: DuckDB's and
  pyarrow's own methods (nanobind, Cython) do not.

``callers`` (innermost first) counts only calls made from that exact chain, e.g. the
``read_sql`` of the views stage's own ``create_views``, not those of every ``open_writer``.
A ``sys.setprofile`` hook sees these events, so the stages carry no test hook: the points are
the stages' own functions at their chunk and transaction boundaries.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any

ENV = "KREVIEW_TEST_KILL_AT"


@dataclass(frozen=True)
class KillPoint:
    func: str  # module:qualname
    event: str = "return"  # call | return | c_call
    n: int = 1
    c_name: str | None = None  # c_call: the builtin's __name__
    callers: tuple[str, ...] = ()  # module:qualname of the caller, its caller, ...

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls, text: str) -> KillPoint:
        data = json.loads(text)
        return cls(**{**data, "callers": tuple(data.get("callers", ()))})

    def __str__(self) -> str:
        what = f"{self.c_name}() in " if self.c_name else ""
        chain = "".join(f" <- {c}" for c in self.callers)
        return f"{self.event} #{self.n} of {what}{self.func}{chain}"


def _is(frame: FrameType | None, target: str, inside_ok: bool = False) -> bool:
    if frame is None:
        return False
    module, _, qualname = target.partition(":")
    code = frame.f_code
    if frame.f_globals.get("__name__") != module:
        return False
    # Python 3.11 runs a comprehension in a frame of its own; 3.12 inlines it.
    return code.co_qualname == qualname or (
        inside_ok and code.co_qualname.startswith(f"{qualname}.<locals>.<")
    )


def _called_from(frame: FrameType, callers: tuple[str, ...]) -> bool:
    parent = frame.f_back
    for caller in callers:
        # contextlib's __enter__ and the like sit between; only our own frames count.
        if not _is(parent, caller):
            return False
        parent = parent.f_back if parent is not None else None
    return True


def install(point: KillPoint) -> None:
    count = 0
    name = point.func.partition(":")[2].rpartition(".")[2]
    c_call = point.event == "c_call"

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event != point.event:
            return
        if c_call:
            if getattr(arg, "__name__", None) != point.c_name or not _is(frame, point.func, True):
                return
        elif frame.f_code.co_name != name or not _is(frame, point.func):
            return  # co_name first: a cheap compare rejects almost every frame
        if point.callers and not _called_from(frame, point.callers):
            return
        count += 1
        if count == point.n:
            os.kill(os.getpid(), signal.SIGKILL)

    sys.setprofile(hook)
    threading.setprofile(hook)  # stages that prefetch in a worker thread (clean) are seen too


def main() -> None:
    # Import first: the hook then stays off the import machinery (torch loads here).
    from jobs.cli import main as kreview

    spec = os.environ.get(ENV)
    if spec:
        install(KillPoint.from_env(spec))
    sys.argv = ["kreview", *sys.argv[1:]]
    kreview()


if __name__ == "__main__":
    main()
