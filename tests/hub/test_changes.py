"""Which visits changed, told to the boards watching a school: only that school's, each once,
and a board gone never stops the next one from hearing."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, create_engine, text

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


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


@pytest.mark.parametrize("engine", ["postgresql"], indirect=True)
def test_workers_on_one_postgresql_database_tell_each_others_boards(engine: Engine) -> None:
    first, second = Changes(engine), Changes(engine)  # two hub workers
    on_first: list[frozenset[str]] = []
    on_second: list[frozenset[str]] = []
    stop_first = first.subscribe("uplands", on_first.append)
    stop_second = second.subscribe("uplands", on_second.append)
    time.sleep(0.5)  # both listening
    many = [f"visit-{n:03d}" for n in range(100)]  # more than one notification carries
    first.publish("uplands", many)
    wait_for(lambda: frozenset().union(*on_second) == set(many))
    second.publish("uplands", ["visit-x"])
    wait_for(lambda: frozenset({"visit-x"}) in on_first)
    time.sleep(0.5)
    assert on_first.count(frozenset(many)) == 1, "a worker's own change is told once"
    with engine.begin() as connection:  # another program on the channel: ignored
        connection.execute(text("SELECT pg_notify('fieldapp_changes', 'hello')"))
    stop_first()
    stop_second()  # the last board on each worker closed: they stop listening
    wait_for(lambda: not [t for t in threading.enumerate() if t.name == "changes"])
    stop_again = second.subscribe("uplands", on_second.append)  # a board opens again
    assert [t for t in threading.enumerate() if t.name == "changes"]
    stop_again()


def test_a_database_out_of_reach_loses_no_push_and_listening_is_retried(
        caplog: pytest.LogCaptureFixture) -> None:
    gone = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    changes = Changes(gone)
    heard: list[frozenset[str]] = []
    with caplog.at_level(logging.ERROR):
        stop = changes.subscribe("uplands", heard.append)
        changes.publish("uplands", ["visit-1"])  # this worker's boards are told all the same
        wait_for(lambda: "listening for the other workers' changes failed" in caplog.text)
        stop()
    assert heard == [frozenset({"visit-1"})]
    assert "the other hub workers could not be told" in caplog.text
