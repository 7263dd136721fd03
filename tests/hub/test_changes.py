"""Which visits changed, told to the boards watching a school: only that school's, each once,
and a board gone never stops the next one from hearing."""

from __future__ import annotations

import logging

import pytest

from fieldapp.hub.changes import Changes


def test_subscribers_hear_of_their_own_schools_changes_until_they_stop() -> None:
    changes = Changes()
    heard: list[tuple[str, frozenset[str]]] = []
    stop = changes.subscribe("uplands", lambda ids: heard.append(("board-1", ids)))
    changes.subscribe("hart-hill", lambda ids: heard.append(("hart-hill", ids)))
    changes.publish("uplands", ["visit-1", "visit-2", "visit-1"])
    changes.publish("uplands", [])  # nothing changed: nobody is woken
    stop()
    stop()  # twice: nothing happens
    changes.publish("uplands", ["visit-3"])
    assert heard == [("board-1", frozenset({"visit-1", "visit-2"}))]


def test_a_board_that_fails_does_not_stop_the_others_or_the_push(
        caplog: pytest.LogCaptureFixture) -> None:
    changes = Changes()
    heard: list[frozenset[str]] = []

    def gone(_ids: frozenset[str]) -> None:
        raise RuntimeError("Event loop is closed")

    changes.subscribe("uplands", gone)
    changes.subscribe("uplands", heard.append)
    with caplog.at_level(logging.ERROR):
        changes.publish("uplands", ["visit-1"])
    assert heard == [frozenset({"visit-1"})] and "could not be told" in caplog.text
