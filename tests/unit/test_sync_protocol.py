"""The sync protocol's pure core: reading a push and planning its ingest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.sync.protocol import PROTOCOL, PushResult, Rejected, plan_ingest

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def event(n: int, kind: EventType = EventType.ARRIVED) -> Event:
    return Event(id=new_event_id(T0 + timedelta(seconds=n), n.to_bytes(10, "big")),
                 visit_id="visit-1", type=kind, at=T0, author=Author("s", "d"))


def test_a_third_copy_of_a_conflicting_id_stays_a_conflict() -> None:
    twin = event(1, EventType.LEFT)
    plan = plan_ingest([event(1), twin, event(1), event(2)], {})
    assert plan.conflicts == (event(1).id,) and plan.new == (event(2),)


def test_the_answer_says_what_became_of_each_event() -> None:
    result = PushResult(stored=("b",), already=("a",), conflicts=("c",),
                        rejected=(Rejected("events[3]", "not an object"),))
    assert result.acknowledged == ("a", "b")
    assert result.to_json() == {
        "protocol": PROTOCOL, "stored": ["b"], "already": ["a"], "conflicts": ["c"],
        "rejected": [{"ref": "events[3]", "reason": "not an object"}]}


@given(st.lists(st.integers(0, 30), max_size=40), st.sets(st.integers(0, 30)))
def test_a_plan_stores_each_new_event_once_and_never_touches_stored_ones(
    batch: list[int], stored: set[int],
) -> None:
    known = {event(n).id: event(n).canonical() for n in stored}
    plan = plan_ingest([event(n) for n in batch], known)
    assert [e.id for e in plan.new] == list(dict.fromkeys(
        event(n).id for n in batch if n not in stored))
    assert set(plan.already) == {event(n).id for n in batch if n in stored}
    assert plan.conflicts == ()
