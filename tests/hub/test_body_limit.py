"""The request body cap, as ASGI: a body over the limit is 413 before the app reads a byte of
it, whether its length was declared or it came in chunks."""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import pytest
from starlette.types import Message, Receive, Scope, Send

from fieldapp.hub.body_limit import BodyLimit


class Echo:
    """An app that reads the whole body and answers with it."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})


def call(app: Any, messages: list[Message], headers: tuple[tuple[bytes, bytes], ...] = (),
         kind: str = "http", limit: int = 10) -> list[Message]:
    inbox = list(reversed(messages))
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop() if inbox else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(BodyLimit(app, limit=limit)({"type": kind, "headers": list(headers)}, receive,
                                            send))
    return sent


def chunks(*parts: bytes) -> list[Message]:
    return [{"type": "http.request", "body": part, "more_body": i < len(parts) - 1}
            for i, part in enumerate(parts)]


def refusal(sent: list[Message]) -> tuple[int, Any]:
    """The one answer sent, whole: its status and its body, JSON declared as such and of the
    length declared."""
    start, body = sent
    headers = dict(start["headers"])
    assert headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body["body"])
    assert not body.get("more_body", False)
    return start["status"], json.loads(body["body"])


def too_large(limit: str = "10 bytes") -> tuple[int, Any]:
    """The documented answer to a body over the limit (docs/hub.md, errors)."""
    return 413, {"error": "too_large", "message": f"at most {limit} per request"}


def test_a_body_in_chunks_within_the_limit_reaches_the_app_whole() -> None:
    sent = call(Echo(), chunks(b"12345", b"67890"))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"1234567890"


def test_a_body_in_chunks_over_the_limit_is_413_and_never_reaches_the_app() -> None:
    app = Echo()
    sent = call(app, chunks(b"123456", b"78901", b"more"))
    assert refusal(sent) == too_large() and not app.called


@pytest.mark.parametrize("length", [b"11", b"-1", b"ten"])
def test_a_declared_length_over_the_limit_or_unreadable_is_413(length: bytes) -> None:
    app = Echo()
    sent = call(app, chunks(b"x"), ((b"content-length", length),))
    assert refusal(sent) == too_large() and not app.called


def test_a_declared_length_within_the_limit_reaches_the_app() -> None:
    sent = call(Echo(), chunks(b"0123456789"), ((b"content-length", b"10"),))
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"0123456789"


def test_a_client_that_goes_away_mid_body_gets_no_answer() -> None:
    app = Echo()
    assert call(app, [{"type": "http.request", "body": b"12", "more_body": True}]) == []
    assert not app.called


def test_after_the_replayed_body_the_app_hears_the_connection_itself() -> None:
    heard: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        heard.extend([await receive(), await receive()])

    call(app, chunks(b"hi"))
    assert heard == [{"type": "http.request", "body": b"hi", "more_body": False},
                     {"type": "http.disconnect"}]


def test_other_connections_pass_straight_through() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    call(app, [], kind="lifespan")
    assert seen == ["lifespan"]


GZIP = ((b"content-encoding", b"gzip"),)


def test_a_gzip_body_is_inflated_and_the_app_sees_plain_json() -> None:
    seen: list[Scope] = []
    app = Echo()

    async def spy(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope)
        await app(scope, receive, send)

    packed = gzip.compress(b"0123456789" * 5)
    sent = call(spy, chunks(packed[:5], packed[5:]),
                (*GZIP, (b"content-length", str(len(packed)).encode())), limit=100)
    assert sent[1]["body"] == b"0123456789" * 5
    assert dict(seen[0]["headers"]) == {b"content-length": b"50"}


@pytest.mark.parametrize(("inflated", "limit"), [(101, 100), (10**6, 2000)])
def test_a_gzip_body_that_inflates_past_the_limit_is_413(inflated: int, limit: int) -> None:
    """A kilobyte that would inflate to a megabyte: refused without inflating it all."""
    app = Echo()
    packed = gzip.compress(b"x" * inflated)
    assert len(packed) <= limit
    sent = call(app, chunks(packed), GZIP, limit=limit)
    assert refusal(sent) == too_large(f"{limit} bytes") and not app.called


def test_a_gzip_body_over_the_limit_as_sent_is_413() -> None:
    app = Echo()
    sent = call(app, chunks(bytes(range(256)) * 2), GZIP, limit=100)
    assert refusal(sent) == too_large("100 bytes") and not app.called


@pytest.mark.parametrize(("body", "says"), [
    (b"not gzip", "the body is not gzip"),
    (gzip.compress(b"0123456789", mtime=0)[:-4], "the gzip body is cut short")])
def test_a_body_that_is_not_gzip_or_is_cut_short_is_400(body: bytes, says: str) -> None:
    app = Echo()
    sent = call(app, chunks(body), GZIP, limit=100)
    assert refusal(sent) == (400, {"error": "bad_encoding", "message": says})
    assert not app.called


def test_a_gzip_body_whose_sender_goes_away_gets_no_answer() -> None:
    assert call(Echo(), [{"type": "http.request", "body": b"\x1f", "more_body": True}],
                GZIP) == []
