"""Rules after the visit: leaving, getting back, the after-visit steps, debrief, follow-ups."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.facts import auto_follow_ups, must_text
from fieldapp.domain.findings import Decision, Draft, Finding, Kind, finding
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import (
    NoteRule,
    Pack,
)
from fieldapp.domain.state import Mark, VisitState
from fieldapp.domain.timers import visit_clock

E = EventType


def leave(state: VisitState, cmd: c.Leave, pack: Pack, now: datetime) -> Decision:
    findings: list[Finding] = []
    nobody_home = state.wait is not None and state.answered_by is None
    note = pack.not_at_home
    if (state.phase is Phase.WAITING and note.note is NoteRule.REQUIRED
            and note.cite is not None):
        findings.append(finding(Kind.WARNING, "note_not_left",
                                "You are leaving without posting the Not-at-Home note.",
                                "nobody answered and no note was left", pack, note.cite))
    if state.visit_started is not None and state.outcome is None:
        findings.append(Finding(Kind.STEP, "record_outcome", "Record the outcome of the visit.",
                                "the visit took place", pack.school, ""))
    if pack.sign_out.check_in_calls:
        findings.append(finding(Kind.STEP, "check_in_after_leaving",
                                "Phone the office to say you have left the property.",
                                "the office keeps track of where you are", pack,
                                pack.sign_out.cite))
    if not cmd.returning_directly:
        findings += [finding(Kind.STEP, step.id, step.text, "you are not going straight back",
                             pack, step.cite)
                     for step in pack.after if step.when == "not_returning_directly"]
    whens = (("not_at_home",) if nobody_home else ()) + (
        ("cancelled",) if state.phase is Phase.CALLED_OFF else ())
    minutes, overran = _time_spent(state, pack, now)
    if overran is not None:
        assert pack.duration.cite is not None  # a limit comes with its cite (the loader)
        findings.append(finding(Kind.WARNING, "visit_overran",
                                f"The visit ran {overran} minutes past the most the policy "
                                f"allows ({pack.duration.max_minutes}): it is recorded for the "
                                "DSL.", f"the visit took {minutes} minutes", pack,
                                pack.duration.cite))
    drafts = [Draft(E.LEFT, {"returning_directly": cmd.returning_directly,
                             "visit_minutes": minutes, "overran_minutes": overran}),
              *auto_follow_ups(state, pack, whens)]
    return Decision(drafts=tuple(drafts), findings=tuple(findings))


def _time_spent(state: VisitState, pack: Pack, now: datetime) -> tuple[int | None, int | None]:
    """How long the visit took, in whole minutes (None: it never started), and by how many
    minutes, rounded up, it ran past the policy's most (None: it did not)."""
    clock = visit_clock(state, pack, now)
    if clock is None:
        return None, None
    minutes = max(0, int(clock.elapsed // timedelta(minutes=1)))
    if clock.limit is None or clock.elapsed <= clock.limit:
        return minutes, None
    return minutes, -(-(clock.elapsed - clock.limit) // timedelta(minutes=1))


def after_steps(state: VisitState, pack: Pack) -> tuple[Finding, ...]:
    """The after-visit steps this visit calls for, as the policy words them."""
    returning = state.left is None or state.left.detail.get("returning_directly", True)
    phoned_in = state.returned is not None and not state.returned.detail.get("to_school", True)
    happened = {
        "always": state.cancelled is None or state.arrived is not None,
        "not_returning_directly": not returning or phoned_in,
        "concern": bool(state.concerns),
        "not_at_home": state.wait is not None and state.answered_by is None,
        "cancelled": state.cancelled is not None,
        "entered": state.entered is not None,
    }
    return tuple(finding(Kind.STEP, step.id, step.text, "after the visit", pack, step.cite)
                 for step in pack.after if happened[step.when])


def return_to_school(state: VisitState, cmd: c.Return, pack: Pack, now: datetime) -> Decision:
    returned = Mark(at=now, detail={"to_school": cmd.to_school})
    drafts = [Draft(E.RETURNED, returned.detail)]
    if _has_actions(state):
        drafts += auto_follow_ups(state, pack, ("actions",))
    return Decision(drafts=tuple(drafts),
                    findings=after_steps(replace(state, returned=returned), pack))


def _has_actions(state: VisitState) -> bool:
    return state.outcome is not None and bool(state.outcome.detail.get("actions"))


def debrief(state: VisitState, cmd: c.Debrief, pack: Pack, now: datetime) -> Decision:
    must_text(cmd.with_whom, "who the debrief was with")
    findings = tuple(Finding(Kind.STEP, "open_follow_up", f.text, "follow-up still open",
                             pack.school, "")
                     for f in state.follow_ups.values() if f.done_at is None)
    payload = {"with_whom": cmd.with_whom.strip(), "note": cmd.note.strip()}
    return Decision(drafts=(Draft(E.DEBRIEFED, payload),), findings=findings)


def create_follow_up(
    state: VisitState, cmd: c.CreateFollowUp, pack: Pack, now: datetime
) -> Decision:
    must_text(cmd.follow_up_id, "a follow-up id")
    must_text(cmd.text, "what the follow-up is")
    if cmd.follow_up_id in state.follow_ups:
        raise c.CommandError("that follow-up already exists")
    payload = {"follow_up_id": cmd.follow_up_id, "kind": cmd.kind, "text": cmd.text.strip(),
               **({"owner": cmd.owner.strip()} if cmd.owner.strip() else {}),
               **({"due": cmd.due.isoformat()} if cmd.due else {})}
    return Decision(drafts=(Draft(E.FOLLOW_UP_CREATED, payload),))


def complete_follow_up(
    state: VisitState, cmd: c.CompleteFollowUp, pack: Pack, now: datetime
) -> Decision:
    known = state.follow_ups.get(cmd.follow_up_id)
    if known is None:
        raise c.CommandError("no such follow-up on this visit")
    if known.done_at is not None:
        raise c.CommandError("that follow-up is already done")
    return Decision(drafts=(Draft(E.FOLLOW_UP_DONE, {"follow_up_id": cmd.follow_up_id}),))


@dataclass(frozen=True, slots=True)


class AttendanceCheck:
    percent: float
    months: int


def attendance_findings(pack: Pack, check: AttendanceCheck) -> tuple[Finding, ...]:
    """Follow-ups that attendance figures trigger (e.g. under 70% over three months)."""
    return tuple(
        finding(Kind.STEP, rule.id, rule.text,
                f"attendance {check.percent:g}% over {check.months} months", pack, rule.cite)
        for rule in pack.follow_ups
        if rule.when == "attendance_below" and rule.threshold_percent is not None
        and rule.period_months is not None and check.months >= rule.period_months
        and check.percent < rule.threshold_percent
    )


def agreement_broken_findings(pack: Pack) -> tuple[Finding, ...]:
    """What the policy asks when a pupil does not keep to what was agreed on the visit."""
    return tuple(
        finding(Kind.STEP, rule.id, rule.text, "the agreement made on the visit was not kept",
                pack, rule.cite)
        for rule in pack.follow_ups if rule.when == "agreement_broken"
    )
