"""Clocks on a visit: the wait at the door, the length of the visit, and overdue.

Pure functions of (state, pack, now). The phone shows them as timers; the hub runs `overdue`
for every visit out, so reception sees a late visit go red even while the phone has no signal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fieldapp.domain.findings import Finding, Kind, finding
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import VisitState


@dataclass(frozen=True, slots=True)
class Clock:
    started: datetime
    elapsed: timedelta
    limit: timedelta | None  # None: the policy sets no limit

    @property
    def remaining(self) -> timedelta | None:
        return None if self.limit is None else self.limit - self.elapsed


def _minutes(value: int | None) -> timedelta | None:
    return None if value is None else timedelta(minutes=value)


def wait_clock(state: VisitState, pack: Pack, now: datetime) -> Clock | None:
    """While waiting at the door: how long, against the limit for no answer or a late parent."""
    if state.phase is not Phase.WAITING or state.wait is None:
        return None
    late = state.wait.detail.get("reason") == "running_late"
    limit = pack.wait.late_parent_minutes if late else pack.wait.no_answer_minutes
    return Clock(state.wait.at, now - state.wait.at, _minutes(limit))


def wait_findings(state: VisitState, pack: Pack, now: datetime) -> tuple[Finding, ...]:
    clock = wait_clock(state, pack, now)
    if clock is None or clock.limit is None or clock.elapsed < clock.limit:
        return ()
    assert state.wait is not None
    cite = pack.wait.limit_cite(late=state.wait.detail.get("reason") == "running_late")
    assert cite is not None  # the loader insists on a cite for every limit
    minutes = int(clock.limit.total_seconds() // 60)
    return (replace(finding(Kind.INSTRUCTION, "wait_limit_reached",
                            "The wait is over: cancel the visit and leave.",
                            f"you have waited {minutes} minutes, the most the policy allows",
                            pack, cite), then=("cancel", "leave")),)


def visit_clock(state: VisitState, pack: Pack, now: datetime) -> Clock | None:
    """From entering (or starting on the doorstep) until leaving."""
    started = state.visit_started
    if started is None:
        return None
    end = state.left.at if state.left is not None else now
    limit = pack.duration.max_minutes
    if state.plan.get("extended_duration_agreed_by"):
        limit = None  # a longer, planned intervention agreed before booking
    return Clock(started.at, end - started.at, _minutes(limit))


def duration_findings(state: VisitState, pack: Pack, now: datetime) -> tuple[Finding, ...]:
    clock = visit_clock(state, pack, now)
    duration = pack.duration
    if clock is None or state.left is not None or duration.cite is None:
        return ()
    minutes = int(clock.elapsed.total_seconds() // 60)
    because = f"the visit has taken {minutes} minutes"
    if clock.limit is not None and clock.elapsed >= clock.limit:
        return (finding(Kind.WARNING, "duration_max_passed",
                        f"Bring the visit to a close now: the most is {duration.max_minutes} "
                        "minutes.", because, pack, duration.cite),)
    normal = _minutes(duration.normal_minutes)
    if normal is not None and clock.elapsed >= normal:
        return (finding(Kind.WARNING, "duration_normal_passed",
                        f"The visit has gone past the usual {duration.normal_minutes} minutes.",
                        because, pack, duration.cite),)
    return ()


@dataclass(frozen=True, slots=True)
class Overdue:
    since: datetime  # when the visit became overdue (deadline + grace)
    what: str  # "not_left" (still at the home) | "not_back" (left, not yet returned)
    escalation: tuple[str, ...]


def overdue(state: VisitState, pack: Pack, now: datetime) -> Overdue | None:
    """A visit is overdue when staff are not away from the home by their time plus the grace,
    or not back by their expected return plus the grace."""
    late = overdue_from(state, pack)
    return None if late is None or now < late.since else late


def overdue_from(state: VisitState, pack: Pack) -> Overdue | None:
    """When the visit turns overdue if nothing more is recorded (None: it cannot)."""
    if state.sign_out is None or state.phase in (Phase.RETURNED, Phase.DEBRIEFED):
        return None
    grace = timedelta(minutes=pack.overdue.grace_minutes)
    detail = state.sign_out.detail
    expected_return = datetime.fromisoformat(detail["expected_return"])
    leave_by = detail.get("expected_leave")
    if state.left is None:
        deadline = datetime.fromisoformat(leave_by) if leave_by else expected_return
        what = "not_left"
    else:
        deadline, what = expected_return, "not_back"
    return Overdue(since=deadline + grace, what=what, escalation=pack.overdue.escalation)


def guidance(state: VisitState, pack: Pack, now: datetime) -> tuple[Finding, ...]:
    """Everything the clocks say right now, for the phone's visit screen."""
    return wait_findings(state, pack, now) + duration_findings(state, pack, now)
