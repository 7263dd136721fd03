"""Rules at the address: arriving, knocking, waiting, who answers, the doorstep checklist,
going in or staying on the doorstep, and calling the visit off.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Final

from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.facts import (
    RESPONSIBLE_ADULTS,
    WHO_LABEL,
    answered,
    applies,
    auto_follow_ups,
    checklist_items,
    cite_rule,
    must_text,
    not_at_home_text,
    rule_findings,
)
from fieldapp.domain.findings import Decision, Draft, Finding, Kind, finding, refused
from fieldapp.domain.inside import inside_reminders
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import (
    WHO_ANSWERS,
    ChecklistItem,
    NoteRule,
    Pack,
    Rule,
    Then,
)
from fieldapp.domain.state import VisitState

E = EventType


# Answers staff put right and then give again ("Not introduced yet", then "ID shown").
PUT_RIGHT: Final = frozenset({Then.SHOW_ID, Then.PUT_RIGHT, Then.WAIT_FOR_ADULT})
# Answers after which the visit is over: nothing more is asked.
ENDS_VISIT: Final = frozenset({Then.CANCEL, Then.LEAVE, Then.RESCHEDULE})
# Answers that rule out going in: only what a doorstep conversation depends on is still asked.
NOT_IN: Final = frozenset({Then.DO_NOT_ENTER, Then.DOORSTEP_ONLY})


def _answer_rule(state: VisitState, item: ChecklistItem) -> Rule:
    return item.answers[state.checklist[item.id]]


def _matters_at_the_door(item: ChecklistItem) -> bool:
    """Whether an answer to the question could stop a visit held on the doorstep."""
    return any(rule.blocks_doorstep for rule in item.answers.values())


def still_to_ask(state: VisitState, pack: Pack) -> tuple[ChecklistItem, ...]:
    """The checklist questions still to ask now, the next one first: before knocking, or at
    the open door once a responsible adult is there. An answer to put right is asked again
    first; after one that ends the visit, or a door answered by someone staff must not go in
    with, nothing is; once going in is ruled out, only what a doorstep visit depends on."""
    if state.phase is Phase.ARRIVED:
        items = checklist_items(state, pack, "arrival")
    elif state.phase is Phase.AT_DOOR:
        door_rule = pack.door.get(state.answered_by or "")
        if state.answered_by not in RESPONSIBLE_ADULTS or door_rule is None or \
                door_rule.blocks_entry:
            return ()
        items = checklist_items(state, pack, "door")
    else:
        return ()
    given = {item.id: _answer_rule(state, item) for item in items if item.id in state.checklist}
    if any(not ENDS_VISIT.isdisjoint(rule.then) for rule in given.values()):
        return ()
    again = [item for item in items
             if item.id in given and not PUT_RIGHT.isdisjoint(given[item.id].then)]
    kept_out = any(not NOT_IN.isdisjoint(rule.then) for rule in given.values())
    fresh = [item for item in items if item.id not in given
             and (not kept_out or _matters_at_the_door(item))]
    return (*again, *fresh)


def check_in(state: VisitState, cmd: c.CheckIn, pack: Pack, now: datetime) -> Decision:
    return Decision(drafts=(Draft(E.CHECKED_IN, {"note": cmd.note.strip()}),))


def arrive(state: VisitState, cmd: c.Arrive, pack: Pack, now: datetime) -> Decision:
    findings = [
        Finding(Kind.STEP, f"ask_{item.id}", item.ask, "before you knock", pack.school, "")
        for item in checklist_items(state, pack, "arrival")
    ]
    if pack.sign_out.check_in_calls and not state.check_ins:
        findings.insert(0, finding(Kind.INSTRUCTION, "check_in_before_arriving",
                                   "Phone the office now, before you go to the door.",
                                   "you have not checked in since leaving school", pack,
                                   pack.sign_out.cite))
    return Decision(drafts=(Draft(E.ARRIVED),), findings=tuple(findings))


def knock_refusals(state: VisitState, pack: Pack) -> list[Finding]:
    refusals = []
    for item in checklist_items(state, pack, "arrival"):
        answer = state.checklist.get(item.id)
        if answer is None:
            refusals.append(_unanswered_refusal(item, pack))
        elif item.answers[answer].then != (Then.CONTINUE,):
            refusals.append(cite_rule(Kind.REFUSAL, f"before_knocking_{item.id}",
                                       item.answers[answer], answered(item, answer), pack))
    return refusals


def _unanswered_refusal(item: ChecklistItem, pack: Pack) -> Finding:
    cite = item.answers["no"].cite
    assert cite is not None  # a "no" that changed nothing would not be worth asking
    return finding(Kind.REFUSAL, "checklist_incomplete", f"Answer first: {item.ask}",
                   "not answered yet", pack, cite)


def no_answer(state: VisitState, cmd: c.NoAnswer, pack: Pack, now: datetime) -> Decision:
    refusals = knock_refusals(state, pack)
    if refusals:
        return refused(*refusals)
    return Decision(drafts=(Draft(E.NO_ANSWER),), findings=wait_instructions(pack, late=False))


def wait_instructions(pack: Pack, late: bool) -> tuple[Finding, ...]:
    """What staff do while they wait: for nobody answering, or for a parent running late."""
    wait = pack.wait
    if late:
        cite = wait.limit_cite(late=True)
        if wait.late_parent_minutes is None or cite is None:
            return ()
        return (finding(Kind.INSTRUCTION, "late_wait_limit",
                        f"Do not go in until the parent arrives. Wait at most "
                        f"{wait.late_parent_minutes} minutes, then cancel the visit.",
                        "the parent is running late", pack, cite),)
    findings: list[Finding] = []
    if wait.no_answer_minutes is not None and wait.cite is not None:
        findings.append(finding(Kind.INSTRUCTION, "wait_limit",
                                f"Wait at most {wait.no_answer_minutes} minutes, then cancel "
                                "the visit.", "nobody has answered the door", pack, wait.cite))
    if wait.call_via_school is not None:
        findings.append(finding(Kind.INSTRUCTION, "call_via_school",
                                "Do not phone the family from your own mobile: phone the school, "
                                "and the school will call the parents.",
                                "nobody has answered the door", pack, wait.call_via_school))
    return (*findings, *note_step(pack))


def note_step(pack: Pack) -> list[Finding]:
    note = pack.not_at_home
    if note.note is NoteRule.NONE or note.cite is None:
        return []
    kind = Kind.STEP if note.note is NoteRule.REQUIRED else Kind.INSTRUCTION
    say = ("Leave the Not-at-Home note before you go." if note.note is NoteRule.REQUIRED
           else "You may post a note through the door before you go.")
    return [finding(kind, "leave_note", say, "nobody has answered the door", pack, note.cite)]


def running_late(
    state: VisitState, cmd: c.ParentRunningLate, pack: Pack, now: datetime
) -> Decision:
    refusals = knock_refusals(state, pack) if state.phase is Phase.ARRIVED else []
    if refusals:
        return refused(*refusals)
    return Decision(drafts=(Draft(E.WAIT_STARTED),), findings=wait_instructions(pack, late=True))


def leave_note(state: VisitState, cmd: c.LeaveNote, pack: Pack, now: datetime) -> Decision:
    return Decision(drafts=(Draft(E.NOT_AT_HOME_NOTE_LEFT, {"text": not_at_home_text(pack)}),))


def door_answered(state: VisitState, cmd: c.DoorAnswered, pack: Pack, now: datetime) -> Decision:
    if cmd.by not in WHO_ANSWERS:
        raise c.CommandError(f"who answered the door: one of {', '.join(WHO_ANSWERS)}")
    refusals = knock_refusals(state, pack) if state.phase is Phase.ARRIVED else []
    if refusals:
        return refused(*refusals)
    rule = pack.door[cmd.by]
    findings = list(rule_findings(rule, f"the door was answered by {WHO_LABEL[cmd.by]}", pack))
    at_door = replace(state, phase=Phase.AT_DOOR, answered_by=cmd.by)
    findings += [Finding(Kind.STEP, f"ask_{item.id}", item.ask, "before you go in", pack.school,
                         "") for item in still_to_ask(at_door, pack)]
    return Decision(drafts=(Draft(E.DOOR_ANSWERED, {"by": cmd.by}),), findings=tuple(findings))


def answer(state: VisitState, cmd: c.Answer, pack: Pack, now: datetime) -> Decision:
    try:
        item = pack.item(cmd.item)
    except KeyError:
        raise c.CommandError(f"no checklist item {cmd.item!r} in this school's pack") from None
    if not applies(item, state):
        raise c.CommandError(f"'{item.ask}' does not apply to this visit")
    at_arrival = state.phase is Phase.ARRIVED
    if (item.stage == "arrival") != at_arrival:
        when = "before knocking" if item.stage == "arrival" else "once the door is answered"
        raise c.CommandError(f"'{item.ask}' is asked {when}")
    answer = "yes" if cmd.yes else "no"
    rule = item.answers[answer]
    findings = rule_findings(rule, answered(item, answer), pack)
    return Decision(drafts=(Draft(E.CHECKLIST_ANSWERED, {"item": item.id, "answer": answer}),),
                    findings=findings)


def door_blocks(state: VisitState, pack: Pack, entering: bool) -> list[Finding]:
    """Why staff may not go in (entering) or hold the visit at the door (not entering)."""
    refusals = []
    by = state.answered_by or ""
    door_rule = pack.door.get(by)
    code = "do_not_enter" if entering else "no_doorstep_visit"
    assert door_rule is not None  # the lifecycle only reaches the door once it is answered
    blocked = door_rule.blocks_entry if entering else door_rule.blocks_doorstep
    if by not in RESPONSIBLE_ADULTS or blocked:  # nothing else matters until then
        return [cite_rule(Kind.REFUSAL, code, door_rule,
                          f"the door was answered by {WHO_LABEL[by]}", pack)]
    for item in checklist_items(state, pack, "door"):
        if item.id not in state.checklist:  # on the doorstep, only what could stop it counts
            if entering or _matters_at_the_door(item):
                refusals.append(_unanswered_refusal(item, pack))
            continue
        rule = _answer_rule(state, item)
        if rule.blocks_entry if entering else rule.blocks_doorstep:
            refusals.append(cite_rule(Kind.REFUSAL, code, rule,
                                       answered(item, state.checklist[item.id]), pack))
    appointment = pack.notice.entry_requires_appointment
    if entering and appointment and not state.plan.get("announced", True):
        refusals.append(finding(Kind.REFUSAL, code, "Do not go in: there is no appointment.",
                                "this visit was not arranged with the parents", pack,
                                appointment))
    return refusals


def enter(state: VisitState, cmd: c.Enter, pack: Pack, now: datetime) -> Decision:
    refusals = door_blocks(state, pack, entering=True)
    if refusals:
        return refused(*refusals)
    findings = [*inside_reminders(pack), *_duration_steps(state, pack)]
    return Decision(drafts=(Draft(E.ENTERED),), findings=tuple(findings))


def doorstep_only(state: VisitState, cmd: c.DoorstepOnly, pack: Pack, now: datetime) -> Decision:
    refusals = door_blocks(state, pack, entering=False) if state.phase is Phase.AT_DOOR else []
    if refusals:
        return refused(*refusals)
    payload = {"reason": cmd.reason.strip()}
    return Decision(drafts=(Draft(E.DOORSTEP_ONLY, payload),),
                    findings=tuple(_duration_steps(state, pack)))


def _duration_steps(state: VisitState, pack: Pack) -> list[Finding]:
    duration = pack.duration
    if duration.cite is None:
        return []
    if duration.normal_minutes is None and duration.max_minutes is None:
        return [finding(Kind.INSTRUCTION, "keep_it_short", "Do not stay too long: keep to the "
                        "point.", "the visit has started", pack, duration.cite)]
    parts = []
    if duration.normal_minutes is not None:
        parts.append(f"about {duration.normal_minutes} minutes")
    if duration.max_minutes is not None:
        parts.append(f"no more than {duration.max_minutes}")
    return [finding(Kind.INSTRUCTION, "duration", f"This visit should take {', '.join(parts)}.",
                    "the visit has started", pack, duration.cite)]


def cancel(state: VisitState, cmd: c.Cancel, pack: Pack, now: datetime) -> Decision:
    reason = must_text(cmd.reason, "a reason for cancelling")
    payload = {"reason": reason, "reason_to": pack.cancel_reason_to}
    findings: list[Finding] = []
    if pack.cancel_reason_to and pack.cancel_cite is not None:
        findings.append(finding(Kind.STEP, "reason_in_writing",
                                f"Give the reason for cancelling to the {pack.cancel_reason_to} "
                                "in writing.", "the visit was cancelled", pack, pack.cancel_cite))
    drafts = [Draft(E.CANCELLED, payload)]
    if state.phase in (Phase.PLANNED, Phase.AUTHORISED):
        drafts += auto_follow_ups(state, pack, ("cancelled",))
    elif state.phase is not Phase.SIGNED_OUT:
        findings.append(get_away(pack))
    return Decision(drafts=tuple(drafts), findings=tuple(findings))


def get_away(pack: Pack) -> Finding:
    """Once a visit at the address is called off."""
    return Finding(Kind.INSTRUCTION, "leave", "Leave the property and head back.",
                   "the visit is called off", pack.school, "", then=(Then.LEAVE.value,))
