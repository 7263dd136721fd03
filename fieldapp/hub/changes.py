"""Which visits changed, told to whatever watches a school: the reception boards open in the
console. An event stored (pushed by a phone, recorded at the console) is published here with
its visit ids; a board draws again only those visits' rows, never the whole school.

One process: subscribers are called at once, on the publisher's thread (a subscriber hands
the work to its own loop). Several hub workers share news through the database instead (a
later step: PostgreSQL LISTEN/NOTIFY).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

Subscriber = Callable[[frozenset[str]], None]  # the visit ids that changed
_log = logging.getLogger(__name__)


class Changes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, school_id: str, subscriber: Subscriber) -> Callable[[], None]:
        """Tell `subscriber` of every change at the school; the function returned stops it."""
        with self._lock:
            self._subscribers.setdefault(school_id, []).append(subscriber)

        def stop() -> None:
            with self._lock:
                watching = self._subscribers.get(school_id, [])
                if subscriber in watching:
                    watching.remove(subscriber)

        return stop

    def publish(self, school_id: str, visit_ids: Iterable[str]) -> None:
        changed = frozenset(visit_ids)
        if not changed:
            return
        with self._lock:
            subscribers = list(self._subscribers.get(school_id, ()))
        for subscriber in subscribers:
            try:
                subscriber(changed)
            except Exception:  # a board gone (its tab closed) must not refuse a phone's push
                _log.exception("a board could not be told of a change")
