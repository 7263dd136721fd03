"""What now? Everything a phone screen shows for a visit, from its state, its pack and the time.

`what_now(state, pack, now)` is pure and reads only the state, so it says the same after a
restart as before it. It gives the stage; the standing instructions ("Do not enter...",
"Doorstep only..."); the next checklist question, each answer with its own words and what it
leads to; every action the visit allows now, open or refused with the engine's reasons and the
policy's words, with the fields the pack asks for; the running timers; the reminders due; and
the next moment the clock alone changes any of it, so the phone can schedule a reminder rather
than poll. Screens render it and send commands; they hold no policy of their own. What it
offers as open, `decide` accepts (a property the tests hold it to, for every school).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any, Final

from fieldapp.domain import commands as c
from fieldapp.domain.after import after_steps
from fieldapp.domain.before import assessment_refusals, authorise_refusals, sign_out_refusals
from fieldapp.domain.door import (
    door_blocks,
    get_away,
    knock_refusals,
    still_to_ask,
    wait_instructions,
)
from fieldapp.domain.events import Author, EventType
from fieldapp.domain.facts import (
    WHO_LABEL,
    answered,
    applies,
    day_boundary,
    required_steps,
    rule_findings,
    safe_phrase,
)
from fieldapp.domain.findings import Finding, Kind, finding
from fieldapp.domain.inside import bedroom_refusals, inside_reminders, never_alone
from fieldapp.domain.lifecycle import OUT, Phase, allowed
from fieldapp.domain.policy import (
    CONCERN_KINDS,
    WHO_ANSWERS,
    Bedroom,
    Hours,
    NoteRule,
    Pack,
    RiskEffect,
    Rule,
    Step,
    Upstairs,
)
from fieldapp.domain.policy import Question as Question_
from fieldapp.domain.rules import ANY_TIME, CLOCK_STEP_BACK, clock_behind
from fieldapp.domain.state import VisitState
from fieldapp.domain.timers import guidance as clock_findings
from fieldapp.domain.timers import overdue, overdue_from, visit_clock, wait_clock

E = EventType
P = Phase


class Stage(StrEnum):
    """Which screen the visit is on."""

    PLAN = "plan"
    ASSESS_RISK = "assess_risk"
    AUTHORISE = "authorise"  # waiting for the sign-offs the policy needs
    SIGN_OUT = "sign_out"
    TRAVELLING = "travelling"
    BEFORE_KNOCKING = "before_knocking"  # the checks the pack asks before knocking
    KNOCK = "knock"
    WAITING = "waiting"  # nobody answered, or the parent is running late
    AT_DOOR = "at_door"
    INSIDE = "inside"
    DOORSTEP = "doorstep"  # the visit held on the doorstep
    NOT_AT_HOME = "not_at_home"
    CALLED_OFF = "called_off"  # get away safely
    LEFT = "left"  # on the way back
    RETURNED = "returned"
    DEBRIEFED = "debriefed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Choice:
    """One answer or option, as its button says it, and what choosing it leads to."""

    value: str  # what the command carries: "yes", "parent", "child_alone", a step id...
    label: str  # the button's words: "ID shown", "a parent or carer"
    then: tuple[str, ...] = ()  # the consequences, as codes: "do_not_enter", "contact_dsl"
    say: str = ""  # what staff are told when they choose it
    policy: str = ""
    quote: str = ""  # the policy's own words


@dataclass(frozen=True, slots=True)
class Question:
    """The next checklist question: one at a time, with its answers."""

    item: str
    ask: str
    choices: tuple[Choice, ...]  # yes first, then no
    number: int  # "3 of 6": its place among this stage's questions
    of: int
    again: bool  # asked again, once what its last answer asked for is put right


@dataclass(frozen=True, slots=True)
class Given:
    """An answer this phone gave at this stage, which staff may still change until the
    visit moves on (the change is recorded as an answer too: UX principle 9). Where the pair's
    phones differ, the cautious answer stands until the phone that gave it changes it."""

    item: str
    ask: str
    answer: Choice  # as this phone gave it
    change_to: Choice


@dataclass(frozen=True, slots=True)
class Field:
    """Something a command needs from staff. `kind` says how to ask for it:
    text, time, day (a date: "4/12"), when (a day and a time: "4/12 10:30"), yes_no, tick
    (must be ticked), choice (one of `choices`), list (of text), staff (Plan's visitors),
    actions (RecordOutcome's who-does-what), new_id (the phone makes one, unique on the
    visit), value (the engine says what to send: `value`)."""

    name: str  # the command's field; for AssessRisk, "answers.<question id>"
    label: str
    kind: str
    required: bool = True
    choices: tuple[Choice, ...] = ()
    value: Any = None
    latest: datetime | None = None  # a time: the latest the policy allows (the evening)
    between: tuple[time, time] | None = None  # a time: within these hours of the school's day


@dataclass(frozen=True, slots=True)
class Action:
    """A command the visit allows now. Open: fill in `fields` and `decide` takes it.
    Refused: `refusals` say why, in the policy's words. `guidance` is how to do it."""

    name: str  # the command's name, e.g. "sign_out" (c.SignOut), "enter" (c.Enter)
    open: bool
    refusals: tuple[Finding, ...] = ()
    fields: tuple[Field, ...] = ()
    guidance: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class Timer:
    name: str  # "wait" (at the door), "visit" (inside or on the doorstep), "back" (due back)
    started: datetime
    elapsed: timedelta  # never negative, whatever the partner's clock said
    normal: timedelta | None  # the usual length, where the policy gives one
    limit: timedelta | None  # the most the policy allows; None: no limit
    ends: datetime | None  # when the limit is reached


@dataclass(frozen=True, slots=True)
class WhatNow:
    stage: Stage
    phase: Phase
    standing: tuple[Finding, ...]  # instructions in force until the visit moves on
    question: Question | None
    actions: tuple[Action, ...]
    timers: tuple[Timer, ...]
    reminders: tuple[Finding, ...]  # due now: the wait is over, the visit has run long, ...
    next_change: datetime | None  # the next moment the clock alone changes any of this
    given: tuple[Given, ...] = ()  # this stage's answers from this phone, still changeable

    def action(self, name: str) -> Action | None:
        return next((action for action in self.actions if action.name == name), None)

    @property
    def open(self) -> tuple[str, ...]:
        return tuple(action.name for action in self.actions if action.open)


def what_now(state: VisitState, pack: Pack, now: datetime, *, by: Author) -> WhatNow:
    """What the screen of `by` (this phone: its member of staff and device) shows at `now`,
    by this phone's clock."""
    timers = _timers(state, pack, now)
    behind = clock_behind(state, pack, now, by)
    moments = _moments(state, pack, timers, now)
    if behind is not None:  # it may record again once its clock passes its last entry
        moments.append(state.device_clocks[by.device_id] - CLOCK_STEP_BACK)
    return WhatNow(
        stage=_stage(state, pack),
        phase=state.phase,
        standing=(() if behind is None else (behind,)) + standing(state, pack),
        question=None if behind is not None else _question(state, pack),
        actions=_actions(state, pack, now, behind),
        timers=timers,
        reminders=_reminders(state, pack, now),
        next_change=min((moment for moment in moments if moment > now), default=None),
        given=() if behind is not None else _given(state, pack, by),
    )


# --- the stage ------------------------------------------------------------------------------

def _stage(state: VisitState, pack: Pack) -> Stage:
    phase = state.phase
    refused = state.risk is not None and bool(state.risk.get("refused"))
    if phase in (P.PLANNED, P.AUTHORISED) and refused:
        return Stage.ASSESS_RISK  # a sign-off merged after a refusal does not undo it
    if phase is P.PLANNED:
        return Stage.AUTHORISE if state.risk is not None or not pack.risk.questions \
            else Stage.ASSESS_RISK
    if phase is P.AUTHORISED:
        done = state.authorised_steps()
        missing = [s for s in required_steps(state, pack) if s.id not in done]
        return Stage.AUTHORISE if missing else Stage.SIGN_OUT
    if phase is P.ARRIVED:
        return Stage.BEFORE_KNOCKING if still_to_ask(state, pack) else Stage.KNOCK
    return _STAGES[phase]


_STAGES: Final = {
    P.NEW: Stage.PLAN, P.SIGNED_OUT: Stage.TRAVELLING, P.WAITING: Stage.WAITING,
    P.AT_DOOR: Stage.AT_DOOR, P.INSIDE: Stage.INSIDE, P.DOORSTEP: Stage.DOORSTEP,
    P.NOT_AT_HOME: Stage.NOT_AT_HOME, P.CALLED_OFF: Stage.CALLED_OFF, P.LEFT: Stage.LEFT,
    P.RETURNED: Stage.RETURNED, P.DEBRIEFED: Stage.DEBRIEFED, P.CANCELLED: Stage.CANCELLED,
}


# --- standing instructions ------------------------------------------------------------------

AT_THE_HOME: Final = (P.ARRIVED, P.WAITING, P.AT_DOOR, P.INSIDE, P.DOORSTEP)


def standing(state: VisitState, pack: Pack) -> tuple[Finding, ...]:
    """The instructions in force now, rebuilt from the state: who opened the door, every
    answer that asked for something, the concerns raised, a parent out of the room."""
    phase = state.phase
    found: list[Finding] = []
    by = state.answered_by
    if phase in (P.AT_DOOR, P.INSIDE, P.DOORSTEP) and by is not None and by in pack.door:
        found += rule_findings(pack.door[by], f"the door was answered by {WHO_LABEL[by]}", pack)
    if phase in AT_THE_HOME:
        stage = "arrival" if phase is P.ARRIVED else "door"
        for item in pack.checklist:
            answer = state.checklist.get(item.id)
            if item.stage == stage and answer is not None:
                found += rule_findings(item.answers[answer], answered(item, answer), pack)
    if phase in (*AT_THE_HOME, P.CALLED_OFF):
        for concern in state.concerns:
            kind = str(concern.detail.get("kind", ""))
            if kind in pack.concerns:
                found += rule_findings(pack.concerns[kind],
                                       f"concern raised: {kind.replace('_', ' ')}", pack)
    if phase is P.WAITING and state.wait is not None:
        found += wait_instructions(pack, late=state.wait.detail.get("reason") == "running_late")
    if phase is P.INSIDE and not state.adult_in_room:
        found += never_alone(pack)
    if phase is P.CALLED_OFF:
        found.append(get_away(pack))
    if phase in OUT and phase is not P.LEFT:
        found += _overtaken(state, pack)
    return tuple(dict.fromkeys(found))  # the same words from two answers, said once


def _overtaken(state: VisitState, pack: Pack) -> list[Finding]:
    """What the school decided while the pair, not yet synced, were setting out: a risk
    assessment refused, or the visit cancelled. They are out: tell them to come away."""
    reasons = assessment_refusals(state, pack)
    if state.cancelled is not None and state.phase is not P.CALLED_OFF:
        reason = str(state.cancelled.detail.get("reason", ""))
        reasons = [Finding(Kind.INSTRUCTION, "cancelled_at_school", "", f"the visit was "
                           f"cancelled at school: {reason}", pack.school, ""), *reasons]
    return [replace(reason, kind=Kind.INSTRUCTION, code="come_away", say=(
        "Do not go in: the school has called this visit off. Leave, and phone the school."),
        then=("do_not_enter", "leave", "call_school")) for reason in reasons[:1]]


# --- the next question ----------------------------------------------------------------------

def _question(state: VisitState, pack: Pack) -> Question | None:
    to_ask = still_to_ask(state, pack)
    if not to_ask:
        return None
    item = to_ask[0]
    stage = [i for i in pack.checklist if i.stage == item.stage and applies(i, state)]
    return Question(item=item.id, ask=item.ask,
                    choices=tuple(_choice(answer, item.answers[answer], pack)
                                  for answer in ("yes", "no")),
                    number=stage.index(item) + 1, of=len(stage),
                    again=item.id in state.checklist)


def _given(state: VisitState, pack: Pack, by: Author) -> tuple[Given, ...]:
    """What this phone answered at the stage the visit is at (before knocking, or at the open
    door): each may be changed until the next step is taken."""
    stage = {P.ARRIVED: "arrival", P.AT_DOOR: "door"}.get(state.phase)
    if stage is None:
        return ()
    given = []
    for item in pack.checklist:
        mine = state.checklist_by_device.get(item.id, {}).get(by.device_id)
        if item.stage == stage and mine in ("yes", "no") and applies(item, state):
            other = "no" if mine == "yes" else "yes"
            given.append(Given(item.id, item.ask, _choice(mine, item.answers[mine], pack),
                               _choice(other, item.answers[other], pack)))
    return tuple(given)


def _choice(value: str, rule: Rule, pack: Pack, label: str = "") -> Choice:
    cite = rule.cite
    return Choice(value=value, label=label or rule.label,
                  then=tuple(t.value for t in rule.then), say=rule.say,
                  policy=f"{pack.school}, {cite.section}" if cite else "",
                  quote=cite.quote if cite else "")


# --- actions --------------------------------------------------------------------------------

_Gate = Callable[[VisitState, Pack, datetime], list[Finding]]
_Fields = Callable[[VisitState, Pack, datetime], tuple[Field, ...]]
_Offered = Callable[[VisitState, Pack], bool]


@dataclass(frozen=True, slots=True)
class _Spec:
    name: str
    event: EventType  # the event it records: the lifecycle says when it is allowed
    gate: _Gate | None = None  # why the policy refuses it now, whatever staff fill in
    fields: _Fields | None = None
    offered: _Offered | None = None  # False: nothing to do (no step left, no follow-up open)
    guidance: Callable[[VisitState, Pack], tuple[Finding, ...]] | None = None


def _actions(state: VisitState, pack: Pack, now: datetime,
             behind: Finding | None) -> tuple[Action, ...]:
    possible = allowed(state.phase)
    actions = []
    for spec in _SPECS:
        if spec.event not in possible or (spec.offered and not spec.offered(state, pack)):
            continue
        refusals = tuple(spec.gate(state, pack, now)) if spec.gate else ()
        if behind is not None and not issubclass(COMMANDS[spec.name], ANY_TIME):
            refusals = (behind, *refusals)
        actions.append(Action(
            name=spec.name, open=not refusals, refusals=refusals,
            fields=spec.fields(state, pack, now) if spec.fields else (),
            guidance=spec.guidance(state, pack) if spec.guidance else ()))
    return tuple(actions)


def _text(name: str, label: str, required: bool = True) -> Field:
    return Field(name, label, "text", required)


def _yes_no(name: str, label: str) -> Field:
    return Field(name, label, "yes_no", required=False)


def _plan_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    notice = tuple(Choice(e.id, e.label, policy=f"{pack.school}, {e.cite.section}",
                          quote=e.cite.quote) for e in pack.notice.exceptions)
    fields = [
        _text("child_ref", "The school's reference for the pupil"),
        _text("child_name", "The pupil's name", required=False),
        _text("address", "Address"), _text("telephone", "The family's telephone number", False),
        _text("purpose", "Purpose of the visit"),
        Field("scheduled_at", "Date and time of the visit", "when", between=_day(pack)),
        Field("staff", f"Staff visiting (at least {pack.pair.min_staff})", "staff"),
        _yes_no("announced", "The parents have been told"),
        Field("notice_exception", "Why the parents were not told", "choice", False, notice),
        _yes_no("first_visit", "First visit to this family"),
    ]
    if not pack.pair.strict:
        fields.append(_text("lone_reason", "Why fewer staff than usual, if so", required=False))
    if pack.safe_phrase.cite and not pack.safe_phrase.phrase:
        fields.append(_text("safe_phrase", "The safe word or phrase you agree between you"))
    return tuple(fields)


def _risk_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    risk = pack.risk
    fields = [Field(f"answers.{q.id}", q.text, "yes_no", True, (
        _effect("yes", q.if_yes, q, pack), _effect("no", q.if_no, q, pack)))
        for q in risk.questions]
    if risk.levels:
        fields.append(Field("level", "Risk level", "choice", True,
                            tuple(Choice(level, level) for level in risk.levels)))
    if risk.mitigations_cite is not None:
        fields.append(_text("mitigations", "What you have done or will do to reduce the risk "
                            "(needed if a risk is answered yes)", required=False))
    return tuple(fields)


def _effect(answer: str, effect: RiskEffect, question: Question_, pack: Pack) -> Choice:
    stops = effect in (RiskEffect.BLOCK, RiskEffect.REFUSE)
    return Choice(answer, answer.capitalize(), then=(effect.value,),
                  say=question.say if stops else "",
                  policy=f"{pack.school}, {question.cite.section}", quote=question.cite.quote)


def _steps_left(state: VisitState, pack: Pack) -> list[Step]:
    done = state.authorised_steps()
    return [step for step in required_steps(state, pack) if step.id not in done]


def _authorise_gate(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    return authorise_refusals(state, pack, _steps_left(state, pack)[0])


def _authorise_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    steps = tuple(Choice(step.id, step.label, then=step.roles,
                         policy=f"{pack.school}, {step.cite.section}", quote=step.cite.quote)
                  for step in _steps_left(state, pack))
    return (Field("step", "Sign-off", "choice", True, steps),
            _text("by", "Name of who signs it off"),
            Field("role", "Their role (one the sign-off names)", "choice", True,
                  tuple(Choice(role, role.replace("_", " ")) for role in
                        dict.fromkeys(r for step in steps for r in step.then))))


def _sign_out_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    out = pack.sign_out
    fields = [Field("expected_return", "Back at school by", "time",
                    latest=_evening_starts(pack, now), between=_day(pack))]
    for record, name, label in (("arrival_estimate", "expected_arrival", "Arriving at about"),
                                ("departure_estimate", "expected_leave", "Leaving the home by")):
        fields.append(Field(name, label, "time", required=record in out.record))
    fields.append(Field("vehicles", "Vehicle registration (or 'on foot')"
                        + (": one car for both of you" if pack.pair.same_car else ""),
                        "list", required="vehicle" in out.record))
    fields += [Field(f"told.{who.split('|')[0]}", f"Told {who.replace('|', ' or ')}", "tick",
                     choices=tuple(Choice(w, w) for w in who.split("|"))) for who in out.tell]
    fields += [Field(f"checks.{check.id}", check.text, "tick") for check in out.checks]
    if out.remind_safe_phrase:
        fields.append(Field("safe_phrase_reminded", "Reception reminded of the safe phrase: "
                            f"\"{safe_phrase(state, pack)}\"", "tick"))
    lead_mobile = bool(state.staff and state.staff[0].mobile.strip())
    fields += [_text("emergency_number", "Emergency contact number",
                     required="emergency_number" in out.record),
               _text("mobile", "Lead visitor's mobile",
                     required="mobile" in out.record and not lead_mobile)]
    return tuple(fields)


def _day(pack: Pack) -> tuple[time, time] | None:
    """Where the policy allows no evening visits, the school's day."""
    hours = pack.hours
    if hours.evening is not Hours.NEVER or hours.cite is None:
        return None
    return hours.day_from, hours.evening_from


def _evening_starts(pack: Pack, now: datetime) -> datetime | None:
    """Where the policy allows no evening visits, when this evening begins."""
    hours = pack.hours
    if hours.evening is not Hours.NEVER or hours.cite is None:
        return None
    local = now.astimezone(hours.zone)
    evening = datetime.combine(local.date(), hours.evening_from, hours.zone)
    return evening if evening > now else None


def _knock_gate(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    return knock_refusals(state, pack) if state.phase is P.ARRIVED else []


def _door_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    return (Field("by", "Who answered the door?", "choice", True, tuple(
        _choice(who, pack.door[who], pack, WHO_LABEL[who].capitalize()) for who in WHO_ANSWERS)),)


def _enter_gate(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    return door_blocks(state, pack, entering=True)


def _doorstep_gate(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    return door_blocks(state, pack, entering=False) if state.phase is P.AT_DOOR else []


def _upstairs_guidance(state: VisitState, pack: Pack) -> tuple[Finding, ...]:
    inside = pack.inside
    if inside.upstairs is Upstairs.NO_RULE or inside.upstairs_cite is None:
        return ()
    say = ("Go upstairs only with a responsible adult, both of you together, and only if it is "
           "completely safe and necessary." if inside.upstairs is
           Upstairs.PAIR_WITH_RESPONSIBLE_ADULT else "Go upstairs only with a responsible "
           "adult, and only if it is completely safe and necessary.")
    return (finding(Kind.INSTRUCTION, "upstairs_rule", say, "inside the home", pack,
                    inside.upstairs_cite),)


def _upstairs_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    rule = pack.inside.upstairs
    kind = "yes_no" if rule is Upstairs.NO_RULE else "tick"  # the policy's conditions
    both = "tick" if rule is Upstairs.PAIR_WITH_RESPONSIBLE_ADULT else "yes_no"
    return (Field("with_responsible_adult", "A responsible adult is going with you", kind,
                  kind == "tick"),
            Field("both_staff", "Both of you are going", both, both == "tick"),
            Field("safe_and_necessary", "It is completely safe and necessary", kind,
                  kind == "tick"))


def _bedroom_gate(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    return list(bedroom_refusals(pack))


def _bedroom_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    kind = "tick" if pack.inside.bedroom is Bedroom.DOORWAY_ADULT_FIRST else "yes_no"
    return (Field("adult_goes_first", "The responsible adult goes in first", kind,
                  kind == "tick"),
            Field("doorway_only", "You stay in the doorway", kind, kind == "tick"),
            Field("both_staff", "Both of you are there", kind, kind == "tick"))


def _adult_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    label = "The parent is back in the room" if not state.adult_in_room else \
        "The parent has left the room"
    return (Field("present", label, "value", value=not state.adult_in_room),)


def _concern_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    kinds = tuple(_choice(kind, pack.concerns[kind], pack, kind.replace("_", " ").capitalize())
                  for kind in CONCERN_KINDS)
    return (Field("kind", "What is the concern?", "choice", True, kinds),
            _text("note", "What you saw or were told", required=False))


def _started(state: VisitState, pack: Pack) -> bool:
    return state.visit_started is not None


def _outcome_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    owner = " (each with who will do it)" if pack.outcome.actions_need_owner else ""
    return (_yes_no("child_seen", "The child was seen"),
            _text("summary", "What happened on the visit"),
            Field("agreements", "What was agreed", "list", required=False),
            Field("actions", f"Actions{owner}", "actions", required=False))


def _cancel_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    to = f" (it goes to the {pack.cancel_reason_to} in writing)" if pack.cancel_reason_to else ""
    return (_text("reason", f"Why the visit is cancelled{to}"),)


def _follow_ups_open(state: VisitState, pack: Pack) -> bool:
    return any(f.done_at is None for f in state.follow_ups.values())


def _follow_up_fields(state: VisitState, pack: Pack, now: datetime) -> tuple[Field, ...]:
    return (Field("follow_up_id", "Follow-up", "choice", True, tuple(
        Choice(f.follow_up_id, f.text) for f in state.follow_ups.values() if f.done_at is None)),)


_SPECS: Final = (
    _Spec("plan", E.PLANNED, fields=_plan_fields),
    _Spec("assess_risk", E.RISK_ASSESSED, fields=_risk_fields,
          offered=lambda state, pack: bool(pack.risk.questions)),
    _Spec("authorise", E.AUTHORISED, _authorise_gate, _authorise_fields,
          offered=lambda state, pack: bool(_steps_left(state, pack))),
    _Spec("sign_out", E.SIGNED_OUT, sign_out_refusals, _sign_out_fields),
    _Spec("check_in", E.CHECKED_IN,
          fields=lambda *_: (_text("note", "Where you are", required=False),)),
    _Spec("arrive", E.ARRIVED),
    _Spec("door_answered", E.DOOR_ANSWERED, _knock_gate, _door_fields),
    _Spec("no_answer", E.NO_ANSWER, _knock_gate),
    _Spec("parent_running_late", E.WAIT_STARTED, _knock_gate),
    _Spec("leave_note", E.NOT_AT_HOME_NOTE_LEFT,
          offered=lambda state, pack: pack.not_at_home.note is not NoteRule.NONE),
    _Spec("enter", E.ENTERED, _enter_gate),
    _Spec("doorstep_only", E.DOORSTEP_ONLY, _doorstep_gate,
          lambda *_: (_text("reason", "Why on the doorstep", required=False),)),
    _Spec("go_upstairs", E.UPSTAIRS, fields=_upstairs_fields, guidance=_upstairs_guidance),
    _Spec("enter_bedroom", E.UPSTAIRS, _bedroom_gate, _bedroom_fields),
    _Spec("adult_in_room", E.ADULT_IN_ROOM, fields=_adult_fields),
    _Spec("raise_concern", E.CONCERN_RAISED, fields=_concern_fields),
    _Spec("record_outcome", E.OUTCOME_RECORDED, fields=_outcome_fields, offered=_started),
    _Spec("cancel", E.CANCELLED, fields=_cancel_fields),
    _Spec("leave", E.LEFT,
          fields=lambda *_: (_yes_no("returning_directly", "Going straight back to school"),)),
    _Spec("return", E.RETURNED,
          fields=lambda *_: (_yes_no("to_school", "Back at school (not phoned in)"),)),
    _Spec("debrief", E.DEBRIEFED, fields=lambda *_: (
        _text("with_whom", "Who the debrief was with"), _text("note", "Notes", False))),
    _Spec("create_follow_up", E.FOLLOW_UP_CREATED, fields=lambda *_: (
        Field("follow_up_id", "A new id, not used on this visit", "new_id"),
        _text("kind", "Kind of follow-up", False), _text("text", "What is to be done"),
        _text("owner", "Who will do it", False), Field("due", "By when", "day", False))),
    _Spec("complete_follow_up", E.FOLLOW_UP_DONE, fields=_follow_up_fields,
          offered=_follow_ups_open),
    _Spec("use_safe_phrase", E.SAFE_PHRASE_USED),
    _Spec("emergency_call", E.EMERGENCY_CALL),
)

# The command each action sends, by name: a screen builds it from the action's fields.
COMMANDS: Final[dict[str, type]] = {
    "plan": c.Plan, "assess_risk": c.AssessRisk, "authorise": c.Authorise,
    "sign_out": c.SignOut, "check_in": c.CheckIn, "arrive": c.Arrive,
    "door_answered": c.DoorAnswered, "no_answer": c.NoAnswer,
    "parent_running_late": c.ParentRunningLate, "leave_note": c.LeaveNote, "enter": c.Enter,
    "doorstep_only": c.DoorstepOnly, "go_upstairs": c.GoUpstairs,
    "enter_bedroom": c.EnterBedroom, "adult_in_room": c.AdultInRoom,
    "raise_concern": c.RaiseConcern, "record_outcome": c.RecordOutcome, "cancel": c.Cancel,
    "leave": c.Leave, "return": c.Return, "debrief": c.Debrief,
    "create_follow_up": c.CreateFollowUp, "complete_follow_up": c.CompleteFollowUp,
    "use_safe_phrase": c.UseSafePhrase, "emergency_call": c.EmergencyCall,
}


# --- timers, reminders and the next change ------------------------------------------------

def _timers(state: VisitState, pack: Pack, now: datetime) -> tuple[Timer, ...]:
    timers = []
    wait = wait_clock(state, pack, now)
    if wait is not None:
        timers.append(_timer("wait", wait.started, now, None, wait.limit))
    clock = visit_clock(state, pack, now)
    if clock is not None and state.left is None:
        normal = pack.duration.normal_minutes
        timers.append(_timer("visit", clock.started, now,
                             None if normal is None else timedelta(minutes=normal), clock.limit))
    if state.sign_out is not None and state.returned is None:
        back = datetime.fromisoformat(state.sign_out.detail["expected_return"])
        timers.append(_timer("back", state.sign_out.at, now, None, back - state.sign_out.at))
    return tuple(timers)


def _timer(name: str, started: datetime, now: datetime, normal: timedelta | None,
           limit: timedelta | None) -> Timer:
    return Timer(name=name, started=started, elapsed=max(now - started, timedelta(0)),
                 normal=normal, limit=limit, ends=None if limit is None else started + limit)


def _moments(state: VisitState, pack: Pack, timers: tuple[Timer, ...],
             now: datetime) -> list[datetime]:
    """The moments at which the clock alone changes what is shown."""
    moments = [moment for timer in timers for moment in (
        timer.ends, None if timer.normal is None else timer.started + timer.normal)
        if moment is not None]
    leave_by = _leave_by(state)
    if leave_by is not None:
        moments.append(leave_by)
    late = overdue_from(state, pack)
    if late is not None:
        moments.append(late.since)
    if state.phase in (P.PLANNED, P.AUTHORISED) and _day(pack) is not None:
        moments.append(day_boundary(now, pack))  # sign-out opens or closes
    return moments


def _leave_by(state: VisitState) -> datetime | None:
    """When staff told the office they would leave the home, while they have not."""
    if state.sign_out is None or state.left is not None:
        return None
    leave_by = state.sign_out.detail.get("expected_leave")
    return datetime.fromisoformat(leave_by) if leave_by else None


def _reminders(state: VisitState, pack: Pack, now: datetime) -> tuple[Finding, ...]:
    """What is due now: limits passed, the time to leave, overdue, the policy's reminders inside
    the home, the calls to make, and after the visit its steps and open follow-ups."""
    found = [*clock_findings(state, pack, now), *_time_to_go(state, pack, now)]
    phase = state.phase
    if phase is P.INSIDE:
        found += [*inside_reminders(pack), *_upstairs_guidance(state, pack),
                  *(replace(refusal, kind=Kind.INSTRUCTION) for refusal in bedroom_refusals(pack))]
    if phase is P.SIGNED_OUT and pack.sign_out.check_in_calls and not state.check_ins:
        found.append(finding(Kind.STEP, "check_in_before_arriving",
                             "Phone the office before you arrive at the property.",
                             "the office keeps track of where you are", pack,
                             pack.sign_out.cite))
    if phase is P.LEFT and state.visit_started is not None and state.outcome is None:
        found.append(Finding(Kind.STEP, "record_outcome", "Record the outcome of the visit.",
                             "the visit took place", pack.school, ""))
    if phase is P.RETURNED:
        found += after_steps(state, pack)
    if phase in (P.RETURNED, P.DEBRIEFED):
        found += [Finding(Kind.STEP, "open_follow_up", f.text, "follow-up still open",
                          pack.school, "") for f in state.follow_ups.values()
                  if f.done_at is None]
    return tuple(found)


def _time_to_go(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    """Past the time staff said they would leave the home; past the grace, overdue."""
    late = overdue(state, pack, now)
    if late is not None:
        due = late.since - timedelta(minutes=pack.overdue.grace_minutes)
        what = "leave the home" if late.what == "not_left" else "be back"
        return [replace(finding(Kind.WARNING, "overdue", "You are overdue: phone the school now "
                                "to say you are safe.", f"you were due to {what} by "
                                f"{_at(due, pack)}", pack, pack.overdue.cite),
                        then=("call_school",))]
    leave_by = _leave_by(state)
    if leave_by is not None and now >= leave_by:
        return [finding(Kind.STEP, "time_to_leave", "It is time to leave: you told the office "
                        f"you would leave by {_at(leave_by, pack)}.",
                        "the office expects you to have left", pack, pack.sign_out.cite)]
    return []


def _at(moment: datetime, pack: Pack) -> str:
    return f"{moment.astimezone(pack.hours.zone):%H:%M}"
