"""Alerts before bulk sync. A phone marks a push that carries a safe-phrase, 999 or duress
alert as urgent with the standard HTTP `Priority: u=0` header (RFC 9218); while any urgent
push is in flight, from the moment its headers arrive until it is answered, a bulk push
waits before storing its events (at most `MOST_WAIT`, so a phone that marks everything urgent
cannot stall the others' sync for long).

Pushes are stored one at a time on the event loop (fieldapp.hub.api says why). Without this an
alert that arrives while four phones sync reaches the front only after every bulk push
already queued: measured here, p99 0.66 s for an alert while 4 phones pushed batches of 100
back to back (bench/hub_bench.py).
"""

from __future__ import annotations

import asyncio
from typing import Final

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

MOST_WAIT: Final = 0.25  # seconds a bulk push waits for urgent ones


def is_urgent(headers: Headers) -> bool:
    return headers.get("priority", "").replace(" ", "").startswith("u=0")


class Turns:
    """How many urgent pushes are in flight, and a bulk push's wait for them."""

    def __init__(self) -> None:
        self.urgent = 0

    def begin(self) -> None:
        self.urgent += 1

    def end(self) -> None:
        self.urgent -= 1

    async def bulk(self) -> None:
        """Wait until no urgent push is in flight (or MOST_WAIT has passed). First let the
        loop read what has arrived: one turn to poll the sockets, one more for a request it
        read to reach `UrgentFirst`. Then look again every half millisecond (urgent pushes
        are rare; an event to wait on would tie this to one event loop)."""
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + MOST_WAIT
        while self.urgent and loop.time() < deadline:
            await asyncio.sleep(0.0005)


class UrgentFirst:
    """ASGI middleware: counts an urgent push in flight from the moment its headers arrive."""

    def __init__(self, app: ASGIApp, turns: Turns, paths: tuple[str, ...]) -> None:
        self.app, self.turns, self.paths = app, turns, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths or not is_urgent(
                Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        self.turns.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.turns.end()
