"""Request body size limit (ASGI middleware) and readable validation messages.

The body limit acts before FastAPI reads anything: a declared Content-Length over the limit is
refused at once, and a chunked body is counted as it arrives and refused when it passes the
limit, so a huge body never sits in memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so FastAPI's body parsing passes it on
    (it turns other errors into a 400) and the app's handler answers 413."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, too_large_message(max_bytes))


def too_large_message(max_bytes: int) -> str:
    return f"request body too large: the limit is {max_bytes} bytes"


async def _send_json(send: Send, status: int, body: Mapping[str, Any]) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = {"error": too_large_message(self.max_bytes), "detail": []}
        declared = dict(scope["headers"]).get(b"content-length")
        # (a malformed Content-Length never gets here: the HTTP parser refuses it)
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_json(send, 413, too_large)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_json(send, 413, too_large)


def _where(loc: Iterable[Any]) -> str:
    """``("body", "texts", 3)`` -> ``texts[3]``; ``("query", "limit")`` -> ``query limit``."""
    parts = list(loc)
    head = ""
    if parts and parts[0] in ("query", "path", "header"):
        head = f"{parts.pop(0)} parameter "
    elif parts and parts[0] == "body":
        parts.pop(0)
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return head + (out or "body")


def describe_errors(errors: Iterable[Mapping[str, Any]], limit: int = 20) -> list[str]:
    """One line per validation error, naming where and what; never echoing the input (a
    rejected 1 MB text would otherwise come back in the response)."""
    lines = []
    for err in errors:
        where = _where(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"malformed JSON: {ctx.get('error', 'cannot parse')}"
            where = "body"
        elif err.get("type") == "missing" and where == "body":
            msg = "a JSON body is required"
        lines.append(f"{where}: {msg}")
    if len(lines) > limit:
        lines = [*lines[:limit], f"… and {len(lines) - limit} more"]
    return lines
