"""A cap on request bodies (ASGI middleware): over the limit is 413, before the app reads it.

A body with a declared length is judged by its `Content-Length`; one sent in chunks, with no
length declared, is read up to the limit first and handed on whole only if it fits. Either
way the app never sees more than `limit` bytes, and a refused request changes nothing.

A body sent gzip-compressed (`Content-Encoding: gzip`, as phones send their pushes over slow
networks) is inflated here, and the cap applies to what it inflates to: a small body that
would inflate past it is refused the same, without inflating more than the cap. One that is
not gzip, or is cut short, is 400.
"""

from __future__ import annotations

import json
import zlib

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit
        size = f"{limit // 2**20} MiB" if limit % 2**20 == 0 else f"{limit} bytes"
        self.refusal = json.dumps({"error": "too_large", "message": f"at most {size} per request"},
                                  separators=(",", ":")).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if headers.get("content-encoding", "").strip().lower() == "gzip":
            await self._inflated(scope, receive, send)
            return
        if declared is not None:
            if declared.isdigit() and int(declared) <= self.limit:
                await self.app(scope, receive, send)
            else:
                await self._too_large(send)
            return
        body = await self._read(receive, send)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, read up to the limit; None when it was over (answered 413) or the
        client went away (nothing to answer)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limit:
                await self._too_large(send)
                return None
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _inflated(self, scope: Scope, receive: Receive, send: Send) -> None:
        packed = await self._read(receive, send)
        if packed is None:
            return
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(packed, self.limit + 1)
        except zlib.error:
            await self._refuse(send, 400, "bad_encoding", "the body is not gzip")
            return
        if len(body) > self.limit or inflater.unconsumed_tail:
            await self._too_large(send)
            return
        if not inflater.eof:
            await self._refuse(send, 400, "bad_encoding", "the gzip body is cut short")
            return
        kept = [(k, v) for k, v in scope["headers"]
                if k.lower() not in (b"content-encoding", b"content-length")]
        inner = {**scope, "headers": [*kept, (b"content-length", str(len(body)).encode())]}
        await self.app(inner, _replay(body, receive), send)

    async def _refuse(self, send: Send, status: int, error: str, message: str) -> None:
        body = json.dumps({"error": error, "message": message}, separators=(",", ":")).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _too_large(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self.refusal)).encode())]})
        await send({"type": "http.response.body", "body": self.refusal})


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, as one message; then the connection's own messages."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed

