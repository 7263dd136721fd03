"""Alerts before bulk sync: while a push marked `Priority: u=0` is in flight, a bulk push waits
before storing its events, for a bounded time; nothing else is held up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.datastructures import Headers

from fieldapp.hub import urgency
from fieldapp.hub.urgency import Turns, UrgentFirst, is_urgent


@pytest.mark.parametrize(("value", "urgent"), [("u=0", True), ("u=0, i", True), (" u = 0", True),
                                               ("u=3", False), ("", False), ("i", False)])
def test_only_the_highest_priority_is_urgent(value: str, urgent: bool) -> None:
    assert is_urgent(Headers({"priority": value} if value else {})) is urgent


def test_a_bulk_push_waits_for_the_urgent_ones_in_flight_then_goes() -> None:
    async def scenario() -> list[str]:
        turns, order = Turns(), []

        async def bulk() -> None:
            await turns.bulk()
            order.append("bulk")

        turns.begin()
        waiting = asyncio.create_task(bulk())
        await asyncio.sleep(0.01)
        order.append("alert")
        turns.end()
        await waiting
        await bulk()  # nothing urgent in flight: straight through
        return order

    assert asyncio.run(scenario()) == ["alert", "bulk", "bulk"]


def test_a_bulk_push_waits_no_longer_than_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(urgency, "MOST_WAIT", 0.05)

    async def scenario() -> float:
        turns = Turns()
        turns.begin()  # an urgent push that never ends (a phone marking everything urgent)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await turns.bulk()
        return loop.time() - started

    assert 0.04 < asyncio.run(scenario()) < 1


def test_the_middleware_counts_urgent_pushes_only_while_they_are_in_flight() -> None:
    turns, seen = Turns(), []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], scope.get("path"), turns.urgent))

    middleware = UrgentFirst(app, turns, ("/api/v1/push",))

    def scope(path: str, priority: bytes = b"") -> dict[str, Any]:
        return {"type": "http", "path": path,
                "headers": [(b"priority", priority)] if priority else []}

    async def scenario() -> None:
        await middleware({"type": "lifespan"}, None, None)
        await middleware(scope("/api/v1/push", b"u=0"), None, None)
        await middleware(scope("/api/v1/push"), None, None)
        await middleware(scope("/api/v1/pull", b"u=0"), None, None)

    asyncio.run(scenario())
    assert seen == [("lifespan", None, 0), ("http", "/api/v1/push", 1),
                    ("http", "/api/v1/push", 0), ("http", "/api/v1/pull", 0)]
    assert turns.urgent == 0
