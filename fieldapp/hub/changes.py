"""Which visits changed, told to whatever watches a school: the reception boards open in the
console. An event stored (pushed by a phone, recorded at the console) is published here with
its visit ids; a board draws again only those visits' rows, never the whole school.

In one process, subscribers are called at once, on the publisher's thread (a subscriber hands
the work to its own loop). With several hub workers on one PostgreSQL database, a change is
also sent through the database (`NOTIFY`), and each worker with a board open listens
(`LISTEN`, on a thread of its own, from the first board to the last), so an alert pushed to
any worker reaches every board. SQLite is one worker's database: nothing to relay.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Final

from sqlalchemy import Engine, text

Subscriber = Callable[[frozenset[str]], None]  # the visit ids that changed
CHANNEL: Final = "fieldapp_changes"
BATCH: Final = 40  # visit ids (of at most 128 characters) in one notification: under 8000 bytes
_log = logging.getLogger(__name__)


class Changes:
    def __init__(self, engine: Engine | None = None) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscriber]] = {}
        relayed = engine is not None and engine.dialect.name == "postgresql"
        self._engine = engine if relayed else None
        self._me = os.urandom(8).hex()  # this worker, in what it sends: its own are not news
        self._listening: threading.Thread | None = None
        self._stop = threading.Event()

    def subscribe(self, school_id: str, subscriber: Subscriber) -> Callable[[], None]:
        """Tell `subscriber` of every change at the school; the function returned stops it."""
        with self._lock:
            self._subscribers.setdefault(school_id, []).append(subscriber)
            self._listen()

        def stop() -> None:
            with self._lock:
                watching = self._subscribers.get(school_id, [])
                if subscriber in watching:
                    watching.remove(subscriber)
                if not any(self._subscribers.values()):
                    self._stop.set()  # the last board closed: stop listening

        return stop

    def publish(self, school_id: str, visit_ids: Iterable[str]) -> None:
        changed = frozenset(visit_ids)
        if not changed:
            return
        self._tell(school_id, changed)
        if self._engine is not None:
            self._send(school_id, changed)

    def _tell(self, school_id: str, changed: frozenset[str]) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(school_id, ()))
        for subscriber in subscribers:
            try:
                subscriber(changed)
            except Exception:  # a board gone (its tab closed) must not refuse a phone's push
                _log.exception("a board could not be told of a change")

    # --- through PostgreSQL ------------------------------------------------------------------

    def _send(self, school_id: str, changed: frozenset[str]) -> None:
        """To the other workers: [worker, school, visit ids] as JSON, in as many notifications
        as the ids need. A failure here loses no event (it is stored): the other boards
        catch up on their next look at the clock."""
        assert self._engine is not None
        ids = sorted(changed)
        try:
            with self._engine.begin() as connection:
                for start in range(0, len(ids), BATCH):
                    payload = json.dumps([self._me, school_id, ids[start:start + BATCH]])
                    connection.execute(text("SELECT pg_notify(:channel, :payload)"),
                                       {"channel": CHANNEL, "payload": payload})
        except Exception:
            _log.exception("the other hub workers could not be told of a change")

    def _listen(self) -> None:
        """Start listening for the other workers' changes (with the lock held)."""
        if self._engine is None or (self._listening is not None and self._listening.is_alive()
                                    and not self._stop.is_set()):
            return
        if self._listening is not None:
            self._listening.join(timeout=5)  # the last listener, stopping
        self._stop = threading.Event()
        self._listening = threading.Thread(target=self._hear, args=(self._stop,),
                                           name="changes", daemon=True)
        self._listening.start()

    def _hear(self, stop: threading.Event) -> None:
        import psycopg

        assert self._engine is not None
        url = self._engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)
        while not stop.is_set():
            try:
                with psycopg.connect(url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not stop.is_set():
                        for note in connection.notifies(timeout=0.5):
                            self._heard(note.payload)
            except Exception:  # the database restarting: listen again in a moment
                _log.exception("listening for the other workers' changes failed")
                stop.wait(1.0)

    def _heard(self, payload: str) -> None:
        try:
            worker, school_id, ids = json.loads(payload)
            changed = frozenset(str(visit_id) for visit_id in ids)
        except (ValueError, TypeError):  # not one of ours: another program on the channel
            _log.warning("a change notification that is not the hub's was ignored")
            return
        if worker != self._me:
            self._tell(str(school_id), changed)
