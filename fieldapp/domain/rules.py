"""The rules engine: `decide(state, command, pack, now)` -> events to record, or refusals.

Each command is checked against the visit's state and the school's pack. What comes back is a
Decision: drafts of the events to append (stamped by `stamp`) and findings (refusals,
instructions, warnings, next steps), each citing the policy. A command the lifecycle does not
allow in the visit's phase raises IllegalTransition; a malformed one raises CommandError.
Leaving is never refused: staff safety comes before paperwork.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fieldapp.domain import commands as c
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.domain.findings import Decision, Draft, Finding, Kind, finding, refused
from fieldapp.domain.lifecycle import Phase, next_phase
from fieldapp.domain.policy import (
    CONCERN_KINDS,
    WHO_ANSWERS,
    Bedroom,
    ChecklistItem,
    Cite,
    Hours,
    NoteRule,
    Pack,
    RiskEffect,
    Rule,
    Step,
    Then,
    Upstairs,
)
from fieldapp.domain.state import VisitState

E = EventType
RESPONSIBLE_ADULTS = ("parent", "delegated_adult")
WHO_LABEL = {
    "parent": "a parent or carer",
    "delegated_adult": "an adult the parent delegated",
    "unsupervised_child": "a child on their own",
    "sibling": "a sibling",
    "unknown": "someone you do not know",
}
EVENING_APPROVAL = "evening_approval"


def decide(state: VisitState, command: c.Command, pack: Pack, now: datetime) -> Decision:
    if now.tzinfo is None:
        raise c.CommandError("the time given to the engine must be timezone-aware")
    primary, handler = _HANDLERS[type(command)]
    next_phase(state.phase, primary)  # IllegalTransition names the event and the phase
    decision: Decision = handler(state, command, pack, now)
    phase = state.phase
    for draft in decision.drafts:
        phase = next_phase(phase, draft.type)
    return decision


def stamp(
    state: VisitState, decision: Decision, visit_id: str, author: Author, now: datetime,
    entropy: Callable[[], bytes],
) -> tuple[Event, ...]:
    """Turn a decision's drafts into events whose ids sort after everything the visit holds."""
    last = max(state.event_ids, default="")
    events = []
    for draft in decision.drafts:
        at = now
        event_id = new_event_id(at, entropy())
        while event_id <= last:  # same millisecond as, or a clock behind, the last event
            at += timedelta(milliseconds=1)
            event_id = new_event_id(at, entropy())
        events.append(Event(id=event_id, visit_id=visit_id, type=draft.type, at=now,
                            author=author, payload=dict(draft.payload)))
        last = event_id
    return tuple(events)


# --- helpers -------------------------------------------------------------------------------

def _cite_rule(kind: Kind, code: str, rule: Rule, because: str, pack: Pack) -> Finding:
    assert rule.cite is not None  # the loader insists on a cite for every non-continue rule
    return finding(kind, code, rule.say, because, pack, rule.cite)


def _rule_findings(rule: Rule, because: str, pack: Pack) -> tuple[Finding, ...]:
    if rule.then == (Then.CONTINUE,):
        if rule.say:
            return (Finding(Kind.INSTRUCTION, "continue", rule.say, because, pack.school, ""),)
        return ()
    return (_cite_rule(Kind.INSTRUCTION, rule.then[0].value, rule, because, pack),)


def _local(moment: datetime) -> Any:
    return moment.timetz().replace(tzinfo=None)


def is_evening(moment: datetime, pack: Pack) -> bool:
    """Outside the day, by the wall clock of the time's own offset (the phone's local time)."""
    clock = _local(moment)
    return bool(clock >= pack.hours.evening_from or clock < pack.hours.day_from)


def required_steps(state: VisitState, pack: Pack) -> tuple[Step, ...]:
    """The sign-offs this visit needs before sign-out."""
    steps = pack.authorisation.steps
    if not state.plan.get("announced", True) and pack.authorisation.unannounced_steps:
        steps = pack.authorisation.unannounced_steps
    if state.plan.get("evening") and pack.hours.evening is Hours.NEEDS_APPROVAL:
        assert pack.hours.cite is not None
        steps = (*steps, Step(EVENING_APPROVAL, "Approval for a visit outside working hours",
                              pack.hours.approval_roles, pack.hours.cite))
    return steps


def applies(item: ChecklistItem, state: VisitState) -> bool:
    condition = item.applies_if
    if condition == "separate_cars":
        return state.sign_out is not None and len(state.sign_out.detail.get("vehicles", ())) > 1
    if condition == "unannounced":
        return not state.plan.get("announced", True)
    if condition == "announced":
        return bool(state.plan.get("announced", True))
    if condition == "first_visit":
        return bool(state.plan.get("first_visit", False))
    return True


def checklist_items(state: VisitState, pack: Pack, stage: str) -> tuple[ChecklistItem, ...]:
    return tuple(i for i in pack.checklist if i.stage == stage and applies(i, state))


def _unanswered(state: VisitState, items: Iterable[ChecklistItem]) -> list[ChecklistItem]:
    return [item for item in items if item.id not in state.checklist]


def _answer_rule(state: VisitState, item: ChecklistItem) -> Rule:
    return item.answers[state.checklist[item.id]]


def _must_text(value: str, what: str) -> str:
    if not value.strip():
        raise c.CommandError(f"{what} is required")
    return value.strip()


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


# --- before the visit ----------------------------------------------------------------------

def _plan(state: VisitState, cmd: c.Plan, pack: Pack, now: datetime) -> Decision:
    for value, what in ((cmd.child_ref, "the pupil reference"), (cmd.address, "the address"),
                        (cmd.purpose, "the purpose of the visit")):
        _must_text(value, what)
    if cmd.scheduled_at.tzinfo is None:
        raise c.CommandError("the visit time must carry its UTC offset")
    ids = [member.staff_id for member in cmd.staff]
    if not ids or len(set(ids)) != len(ids) or not all(ids):
        raise c.CommandError("the visiting staff must be listed, each once")
    refusals: list[Finding] = []
    findings: list[Finding] = []
    pair = pack.pair
    if len(cmd.staff) < pair.min_staff:
        because = f"{len(cmd.staff)} of the {pair.min_staff} staff the policy asks for"
        if pair.strict or not cmd.lone_reason.strip():
            say = ("Add a second member of staff." if pair.strict else
                   "Add a second member of staff, or record why that is not possible.")
            refusals.append(finding(Kind.REFUSAL, "pair_required", say, because, pack, pair.cite))
        else:
            findings.append(finding(Kind.WARNING, "fewer_staff", "Visiting with fewer staff "
                                    f"than usual: {cmd.lone_reason.strip()}", because, pack,
                                    pair.cite))
    if pair.safeguarding_trained and not any(m.safeguarding_trained for m in cmd.staff):
        refusals.append(finding(Kind.REFUSAL, "safeguarding_trained_required",
                                "Include a member of staff trained in safeguarding.",
                                "nobody visiting is safeguarding-trained", pack,
                                pair.safeguarding_trained))
    if pair.knows_family and not any(m.knows_family for m in cmd.staff):
        refusals.append(finding(Kind.REFUSAL, "knows_family_required",
                                "Include a member of staff who works with the child or family.",
                                "nobody visiting works with this family regularly", pack,
                                pair.knows_family))
    if not cmd.announced:
        refusals.extend(_notice_refusals(cmd, pack))
    evening = is_evening(cmd.scheduled_at, pack)
    if evening:
        refusals.extend(_evening(pack, findings))
    if pack.safe_phrase.cite and not pack.safe_phrase.phrase and not cmd.safe_phrase.strip():
        refusals.append(finding(Kind.REFUSAL, "safe_phrase_required",
                                "Agree a safe word or phrase between you, and note it here.",
                                "the pair has no agreed safe word", pack, pack.safe_phrase.cite))
    if refusals:
        return refused(*refusals)
    payload = {
        "pack_id": pack.id, "child_ref": cmd.child_ref.strip(), "child_name": cmd.child_name,
        "address": cmd.address.strip(), "purpose": cmd.purpose.strip(),
        "scheduled_at": cmd.scheduled_at.isoformat(),
        "staff": [member.to_dict() for member in cmd.staff], "announced": cmd.announced,
        "notice_exception": cmd.notice_exception, "first_visit": cmd.first_visit,
        "lone_reason": cmd.lone_reason.strip(), "evening": evening,
        "extended_duration_agreed_by": cmd.extended_duration_agreed_by.strip(),
        "safe_phrase": cmd.safe_phrase.strip() or pack.safe_phrase.phrase,
    }
    if pack.risk.questions:
        findings.append(Finding(Kind.STEP, "assess_risk", "Complete the risk assessment.",
                                "needed before the visit is authorised", pack.school, ""))
    return Decision(drafts=(Draft(E.PLANNED, payload),), findings=tuple(findings))


def _notice_refusals(cmd: c.Plan, pack: Pack) -> list[Finding]:
    notice = pack.notice
    allowed = {e.id: e for e in notice.exceptions}
    if not allowed:
        cite = notice.entry_requires_appointment or notice.cite
        return [finding(Kind.REFUSAL, "appointment_required",
                        "Make an appointment with the parents first.",
                        "this school's visits are by appointment", pack, cite)]
    if cmd.notice_exception not in allowed:
        options = "; ".join(e.label for e in notice.exceptions)
        return [finding(Kind.REFUSAL, "notice_required",
                        f"Tell the parents in advance, unless this is one of: {options}.",
                        "an unannounced visit must be one of the policy's exceptions", pack,
                        notice.cite)]
    return []


def _evening(pack: Pack, findings: list[Finding]) -> list[Finding]:
    hours = pack.hours
    if hours.cite is None:
        return []
    because = f"the visit is after {hours.evening_from:%H:%M} or before {hours.day_from:%H:%M}"
    if hours.evening is Hours.NEVER:
        return [finding(Kind.REFUSAL, "no_evening_visits", "Choose a time during the day.",
                        because, pack, hours.cite)]
    if hours.evening is Hours.NEEDS_APPROVAL:
        roles = ", ".join(hours.approval_roles)
        findings.append(finding(Kind.STEP, "evening_needs_approval",
                                f"This visit needs approval for outside working hours ({roles}).",
                                because, pack, hours.cite))
    else:
        findings.append(finding(Kind.WARNING, "evening_advised_against",
                                "Evening visits are strongly advised against: choose a day time "
                                "if you can.", because, pack, hours.cite))
    return []


def _assess_risk(state: VisitState, cmd: c.AssessRisk, pack: Pack, now: datetime) -> Decision:
    risk = pack.risk
    known = {q.id for q in risk.questions}
    unknown = sorted(set(cmd.answers) - known)
    if unknown:
        raise c.CommandError(f"unknown risk questions: {', '.join(unknown)}")
    missing = [q for q in risk.questions if q.id not in cmd.answers]
    if missing:
        raise c.CommandError("answer every risk question: "
                             + "; ".join(q.text for q in missing))
    refusals: list[Finding] = []
    mitigate = False
    for question in risk.questions:
        answer = cmd.answers[question.id]
        effect = question.if_yes if answer else question.if_no
        because = f"'{question.text}' answered {'yes' if answer else 'no'}"
        if effect is RiskEffect.BLOCK:
            refusals.append(finding(Kind.REFUSAL, "visit_must_not_happen",
                                    "Do not make this visit: use other means of contact.",
                                    because, pack, question.cite))
        elif effect is RiskEffect.REFUSE:
            refusals.append(finding(Kind.REFUSAL, "risk_assessment_incomplete",
                                    "Put this right before the risk assessment can be completed.",
                                    because, pack, question.cite))
        elif effect is RiskEffect.MITIGATE:
            mitigate = True
    if mitigate and not cmd.mitigations.strip():
        assert risk.mitigations_cite is not None
        refusals.append(finding(Kind.REFUSAL, "mitigations_required",
                                "List the actions you have taken or will take to reduce the risk.",
                                "a risk question was answered yes", pack, risk.mitigations_cite))
    if risk.levels:
        assert risk.levels_cite is not None
        if cmd.level not in risk.levels:
            raise c.CommandError(f"choose a risk level: {', '.join(risk.levels)}")
        floor = risk.first_visit_min
        if (state.plan.get("first_visit") and floor is not None
                and risk.levels.index(cmd.level) < risk.levels.index(floor)):
            refusals.append(finding(Kind.REFUSAL, "first_visit_risk_level",
                                    f"Rate a first visit at least {floor}.",
                                    f"a first visit was rated {cmd.level}", pack, risk.levels_cite))
    if refusals:
        return refused(*refusals)
    findings = [Finding(Kind.STEP, "authorise", f"Get this visit signed off: {s.label}.",
                        "needed before sign-out", pack.school, "")
                for s in required_steps(state, pack)]
    if state.phase is Phase.AUTHORISED:
        findings.insert(0, Finding(Kind.WARNING, "authorise_again",
                                   "The new risk assessment needs a fresh authorisation.",
                                   "the risk assessment changed after it was signed off",
                                   pack.school, ""))
    payload = {"answers": dict(cmd.answers), "level": cmd.level,
               "mitigations": cmd.mitigations.strip()}
    return Decision(drafts=(Draft(E.RISK_ASSESSED, payload),), findings=tuple(findings))


def _authorise(state: VisitState, cmd: c.Authorise, pack: Pack, now: datetime) -> Decision:
    _must_text(cmd.by, "the name of who authorised the visit")
    steps = {s.id: s for s in required_steps(state, pack)}
    step = steps.get(cmd.step)
    if step is None:
        raise c.CommandError(f"no such authorisation step: {cmd.step!r}; "
                             f"this visit needs {', '.join(steps)}")
    if pack.risk.questions and state.risk is None:
        return refused(finding(Kind.REFUSAL, "risk_assessment_first",
                               "Complete the risk assessment before the visit is authorised.",
                               "there is no risk assessment yet", pack, step.cite))
    if cmd.role not in step.roles:
        return refused(finding(Kind.REFUSAL, "may_not_authorise",
                               f"Ask one of: {', '.join(step.roles)}.",
                               f"a {cmd.role or 'member of staff'} cannot give this sign-off",
                               pack, step.cite))
    if step.id in state.authorised_steps():
        raise c.CommandError(f"'{step.label}' is already signed off")
    payload = {"step": step.id, "by": cmd.by.strip(), "role": cmd.role}
    remaining = [s for s in steps.values()
                 if s.id not in state.authorised_steps() and s.id != step.id]
    findings = tuple(Finding(Kind.STEP, "authorise", f"Still needed: {s.label}.",
                             "needed before sign-out", pack.school, "") for s in remaining)
    return Decision(drafts=(Draft(E.AUTHORISED, payload),), findings=findings)


def _sign_out(state: VisitState, cmd: c.SignOut, pack: Pack, now: datetime) -> Decision:
    if cmd.expected_return.tzinfo is None:
        raise c.CommandError("the expected return time must carry its UTC offset")
    if cmd.expected_return <= now:
        raise c.CommandError("the expected return time must be in the future")
    if cmd.expected_leave is not None and not now < cmd.expected_leave <= cmd.expected_return:
        raise c.CommandError("the time you expect to leave the home must be before your return")
    refusals: list[Finding] = []
    done = state.authorised_steps()
    for step in required_steps(state, pack):
        if step.id not in done:
            refusals.append(finding(Kind.REFUSAL, "not_authorised",
                                    f"Do not leave yet: {step.label}.",
                                    "the visit is not fully authorised", pack, step.cite))
    out = pack.sign_out
    missing = [who for who in out.tell if who not in cmd.told]
    if missing:
        refusals.append(finding(Kind.REFUSAL, "tell_before_leaving",
                                f"Tell {', '.join(missing)} who you are visiting and when you "
                                "will be back.", "not everyone the policy names has been told",
                                pack, out.cite))
    if "vehicle" in out.record and not cmd.vehicles:
        refusals.append(finding(Kind.REFUSAL, "vehicle_required",
                                "Record the vehicle you are using (or 'on foot').",
                                "the office needs the vehicle details", pack, out.cite))
    pair = pack.pair
    if pair.same_car and len(cmd.vehicles) > 1:
        refusals.append(finding(Kind.REFUSAL, "same_car", "Travel together in one car.",
                                "the pair are using more than one vehicle", pack, pair.same_car))
    if pair.lone_alert_device and not cmd.lone_alert_checked:
        refusals.append(finding(Kind.REFUSAL, "lone_alert_device",
                                "Check the lone-worker alarm is charged and working, and take it.",
                                "the alarm has not been checked", pack, pair.lone_alert_device))
    if pair.roles_clarified and not cmd.roles_clarified:
        refusals.append(finding(Kind.REFUSAL, "roles_not_clarified",
                                "Agree who leads and who takes notes before you go.",
                                "the pair's roles are not agreed", pack, pair.roles_clarified))
    if out.remind_safe_phrase and not cmd.safe_phrase_reminded:
        phrase = state.plan.get("safe_phrase", "")
        refusals.append(finding(Kind.REFUSAL, "remind_safe_phrase",
                                f"Remind reception of the safe phrase: \"{phrase}\".",
                                "reception must know the phrase before you leave", pack, out.cite))
    hours = pack.hours
    if hours.evening is Hours.NEVER and hours.cite and (
            is_evening(now, pack) or is_evening(cmd.expected_return, pack)):
        refusals.append(finding(Kind.REFUSAL, "no_evening_visits",
                                "Do not set out: the visit would run into the evening.",
                                "no home visits take place in the evening", pack, hours.cite))
    if refusals:
        return refused(*refusals)
    payload = {
        "expected_return": cmd.expected_return.isoformat(),
        "expected_leave": _iso(cmd.expected_leave), "vehicles": list(cmd.vehicles),
        "told": list(cmd.told), "safe_phrase_reminded": cmd.safe_phrase_reminded,
        "lone_alert_checked": cmd.lone_alert_checked, "roles_clarified": cmd.roles_clarified,
    }
    findings: list[Finding] = []
    if out.check_in_calls:
        findings.append(finding(Kind.STEP, "check_in_before_arriving",
                                "Phone the office before you arrive at the property.",
                                "the office keeps track of where you are", pack, out.cite))
    return Decision(drafts=(Draft(E.SIGNED_OUT, payload),), findings=tuple(findings))


# --- at the address ------------------------------------------------------------------------

def _check_in(state: VisitState, cmd: c.CheckIn, pack: Pack, now: datetime) -> Decision:
    return Decision(drafts=(Draft(E.CHECKED_IN, {"note": cmd.note.strip()}),))


def _arrive(state: VisitState, cmd: c.Arrive, pack: Pack, now: datetime) -> Decision:
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


def _before_knocking(state: VisitState, pack: Pack) -> list[Finding]:
    refusals = []
    for item in checklist_items(state, pack, "arrival"):
        answer = state.checklist.get(item.id)
        if answer is None:
            refusals.append(_unanswered_refusal(item, pack))
        elif item.answers[answer].then != (Then.CONTINUE,):
            refusals.append(_cite_rule(Kind.REFUSAL, f"before_knocking_{item.id}",
                                       item.answers[answer], f"'{item.ask}' answered no", pack))
    return refusals


def _unanswered_refusal(item: ChecklistItem, pack: Pack) -> Finding:
    cite = item.answers["no"].cite
    assert cite is not None  # a "no" that changed nothing would not be worth asking
    return finding(Kind.REFUSAL, "checklist_incomplete", f"Answer first: {item.ask}",
                   "not answered yet", pack, cite)


def _no_answer(state: VisitState, cmd: c.NoAnswer, pack: Pack, now: datetime) -> Decision:
    refusals = _before_knocking(state, pack)
    if refusals:
        return refused(*refusals)
    findings: list[Finding] = []
    wait = pack.wait
    if wait.no_answer_minutes is not None and wait.cite is not None:
        findings.append(finding(Kind.INSTRUCTION, "wait_limit",
                                f"Wait at most {wait.no_answer_minutes} minutes, then cancel "
                                "the visit.", "nobody has answered the door", pack, wait.cite))
    if wait.call_via_school is not None:
        findings.append(finding(Kind.INSTRUCTION, "call_via_school",
                                "Do not phone the family from your own mobile: phone the school, "
                                "and the school will call the parents.",
                                "nobody has answered the door", pack, wait.call_via_school))
    findings.extend(_note_step(pack))
    return Decision(drafts=(Draft(E.NO_ANSWER),), findings=tuple(findings))


def _note_step(pack: Pack) -> list[Finding]:
    note = pack.not_at_home
    if note.note is NoteRule.NONE or note.cite is None:
        return []
    kind = Kind.STEP if note.note is NoteRule.REQUIRED else Kind.INSTRUCTION
    say = ("Leave the Not-at-Home note before you go." if note.note is NoteRule.REQUIRED
           else "You may post a note through the door before you go.")
    return [finding(kind, "leave_note", say, "nobody has answered the door", pack, note.cite)]


def _running_late(
    state: VisitState, cmd: c.ParentRunningLate, pack: Pack, now: datetime
) -> Decision:
    refusals = _before_knocking(state, pack) if state.phase is Phase.ARRIVED else []
    if refusals:
        return refused(*refusals)
    wait = pack.wait
    findings: list[Finding] = []
    if wait.late_parent_minutes is not None and wait.cite is not None:
        findings.append(finding(Kind.INSTRUCTION, "late_wait_limit",
                                f"Do not go in until the parent arrives. Wait at most "
                                f"{wait.late_parent_minutes} minutes, then cancel the visit.",
                                "the parent is running late", pack, wait.cite))
    return Decision(drafts=(Draft(E.WAIT_STARTED),), findings=tuple(findings))


def not_at_home_text(pack: Pack) -> str:
    """The note's text, with the school's phone number filled in."""
    phone = pack.contacts.school_phone or "the school"
    return pack.not_at_home.text.replace("{school_phone}", phone)


def _leave_note(state: VisitState, cmd: c.LeaveNote, pack: Pack, now: datetime) -> Decision:
    return Decision(drafts=(Draft(E.NOT_AT_HOME_NOTE_LEFT, {"text": not_at_home_text(pack)}),))


def _door_answered(state: VisitState, cmd: c.DoorAnswered, pack: Pack, now: datetime) -> Decision:
    if cmd.by not in WHO_ANSWERS:
        raise c.CommandError(f"who answered the door: one of {', '.join(WHO_ANSWERS)}")
    refusals = _before_knocking(state, pack) if state.phase is Phase.ARRIVED else []
    if refusals:
        return refused(*refusals)
    rule = pack.door[cmd.by]
    findings = list(_rule_findings(rule, f"the door was answered by {WHO_LABEL[cmd.by]}", pack))
    findings += [Finding(Kind.STEP, f"ask_{item.id}", item.ask, "before you go in", pack.school,
                         "") for item in _unanswered(state, checklist_items(state, pack, "door"))]
    return Decision(drafts=(Draft(E.DOOR_ANSWERED, {"by": cmd.by}),), findings=tuple(findings))


def _answer(state: VisitState, cmd: c.Answer, pack: Pack, now: datetime) -> Decision:
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
    findings = _rule_findings(rule, f"'{item.ask}' answered {answer}", pack)
    return Decision(drafts=(Draft(E.CHECKLIST_ANSWERED, {"item": item.id, "answer": answer}),),
                    findings=findings)


def _door_blocks(state: VisitState, pack: Pack, entering: bool) -> list[Finding]:
    """Why staff may not go in (entering) or hold the visit at the door (not entering)."""
    refusals = []
    by = state.answered_by or ""
    door_rule = pack.door.get(by)
    code = "do_not_enter" if entering else "no_doorstep_visit"
    if by not in RESPONSIBLE_ADULTS:  # nothing else matters until an adult is at the door
        assert door_rule is not None and door_rule.cite is not None
        return [_cite_rule(Kind.REFUSAL, code, door_rule,
                           f"the door was answered by {WHO_LABEL[by]}", pack)]
    for item in checklist_items(state, pack, "door"):
        if item.id not in state.checklist:
            refusals.append(_unanswered_refusal(item, pack))
            continue
        rule = _answer_rule(state, item)
        if rule.blocks_entry if entering else rule.blocks_doorstep:
            refusals.append(_cite_rule(Kind.REFUSAL, code, rule,
                                       f"'{item.ask}' answered {state.checklist[item.id]}", pack))
    appointment = pack.notice.entry_requires_appointment
    if entering and appointment and not state.plan.get("announced", True):
        refusals.append(finding(Kind.REFUSAL, code, "Do not go in: there is no appointment.",
                                "this visit was not arranged with the parents", pack,
                                appointment))
    return refusals


def _enter(state: VisitState, cmd: c.Enter, pack: Pack, now: datetime) -> Decision:
    refusals = _door_blocks(state, pack, entering=True)
    if refusals:
        return refused(*refusals)
    findings = [finding(Kind.INSTRUCTION, "reminder", text, "inside the home", pack, cite)
                for text, cite in pack.inside.reminders]
    findings.extend(_duration_steps(state, pack))
    return Decision(drafts=(Draft(E.ENTERED),), findings=tuple(findings))


def _doorstep_only(state: VisitState, cmd: c.DoorstepOnly, pack: Pack, now: datetime) -> Decision:
    refusals = _door_blocks(state, pack, entering=False) if state.phase is Phase.AT_DOOR else []
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


def _cancel(state: VisitState, cmd: c.Cancel, pack: Pack, now: datetime) -> Decision:
    reason = _must_text(cmd.reason, "a reason for cancelling")
    payload = {"reason": reason, "reason_to": pack.cancel_reason_to}
    findings: list[Finding] = []
    if pack.cancel_reason_to and pack.cancel_cite is not None:
        findings.append(finding(Kind.STEP, "reason_in_writing",
                                f"Give the reason for cancelling to the {pack.cancel_reason_to} "
                                "in writing.", "the visit was cancelled", pack, pack.cancel_cite))
    drafts = [Draft(E.CANCELLED, payload)]
    if state.phase in (Phase.PLANNED, Phase.AUTHORISED):
        drafts += _auto_follow_ups(state, pack, ("cancelled",))
    elif state.phase is not Phase.SIGNED_OUT:
        findings.append(Finding(Kind.INSTRUCTION, "leave", "Leave the property and head back.",
                                "the visit is called off", pack.school, ""))
    return Decision(drafts=tuple(drafts), findings=tuple(findings))


# --- inside --------------------------------------------------------------------------------

def _upstairs(state: VisitState, cmd: c.GoUpstairs, pack: Pack, now: datetime) -> Decision:
    inside = pack.inside
    refusals = []
    if inside.upstairs is not Upstairs.NO_RULE:
        assert inside.upstairs_cite is not None
        cite: Cite = inside.upstairs_cite
        if not cmd.with_responsible_adult:
            refusals.append(finding(Kind.REFUSAL, "upstairs_needs_adult",
                                    "Do not go upstairs unless a responsible adult goes with you.",
                                    "no responsible adult is going with you", pack, cite))
        if (inside.upstairs is Upstairs.PAIR_WITH_RESPONSIBLE_ADULT and not cmd.both_staff):
            refusals.append(finding(Kind.REFUSAL, "upstairs_in_pairs",
                                    "Do not go upstairs on your own: go as a pair.",
                                    "only one of you is going", pack, cite))
        if not cmd.safe_and_necessary:
            refusals.append(finding(Kind.REFUSAL, "upstairs_only_if_needed",
                                    "Go upstairs only if it is completely safe and necessary.",
                                    "it is not both safe and necessary", pack, cite))
    if refusals:
        return refused(*refusals)
    payload = {"room": "upstairs", "with_responsible_adult": cmd.with_responsible_adult,
               "both_staff": cmd.both_staff}
    return Decision(drafts=(Draft(E.UPSTAIRS, payload),))


def _bedroom(state: VisitState, cmd: c.EnterBedroom, pack: Pack, now: datetime) -> Decision:
    inside = pack.inside
    cite = inside.bedroom_cite
    if inside.bedroom is Bedroom.NEVER:
        assert cite is not None
        return refused(finding(Kind.REFUSAL, "never_childs_bedroom",
                               "Do not enter a child's bedroom.",
                               "the policy never allows it", pack, cite))
    findings: list[Finding] = []
    if inside.bedroom is Bedroom.DOORWAY_ADULT_FIRST:
        assert cite is not None
        if not (cmd.adult_goes_first and cmd.doorway_only and cmd.both_staff):
            return refused(finding(Kind.REFUSAL, "bedroom_doorway_only",
                                   "Stand in the doorway, both of you, and let the responsible "
                                   "adult go in first.", "that is the only way to a child's "
                                   "bedroom", pack, cite))
        findings.append(finding(Kind.INSTRUCTION, "bedroom_doorway",
                                "Stay in the doorway together; the adult goes first.",
                                "at a child's bedroom", pack, cite))
    payload = {"room": "bedroom_doorway" if cmd.doorway_only else "bedroom",
               "adult_goes_first": cmd.adult_goes_first, "both_staff": cmd.both_staff}
    return Decision(drafts=(Draft(E.UPSTAIRS, payload),), findings=tuple(findings))


def _concern(state: VisitState, cmd: c.RaiseConcern, pack: Pack, now: datetime) -> Decision:
    if cmd.kind not in CONCERN_KINDS:
        raise c.CommandError(f"kind of concern: one of {', '.join(CONCERN_KINDS)}")
    rule = pack.concerns[cmd.kind]
    findings = _rule_findings(rule, f"concern raised: {cmd.kind.replace('_', ' ')}", pack)
    return Decision(drafts=(Draft(E.CONCERN_RAISED, {"kind": cmd.kind, "note": cmd.note}),),
                    findings=findings)


def safe_phrase(state: VisitState, pack: Pack) -> str:
    return str(state.plan.get("safe_phrase") or pack.safe_phrase.phrase)


def _safe_phrase(state: VisitState, cmd: c.UseSafePhrase, pack: Pack, now: datetime) -> Decision:
    phrase = safe_phrase(state, pack)
    phone = pack.contacts.reception_phone
    say = f"Calling reception{f' on {phone}' if phone else ''}. Say: \"{phrase}\"" if phrase \
        else f"Calling reception{f' on {phone}' if phone else ''}: say you need help."
    findings: tuple[Finding, ...] = (Finding(Kind.INSTRUCTION, "say_safe_phrase", say,
                                             "you used the safe phrase", pack.school, ""),)
    if pack.safe_phrase.cite is not None:
        findings = (finding(Kind.INSTRUCTION, "say_safe_phrase", say, "you used the safe phrase",
                            pack, pack.safe_phrase.cite),)
    payload = {"phrase": phrase, "reception_phone": phone}
    return Decision(drafts=(Draft(E.SAFE_PHRASE_USED, payload),), findings=findings)


def _emergency(state: VisitState, cmd: c.EmergencyCall, pack: Pack, now: datetime) -> Decision:
    number = pack.contacts.emergency
    return Decision(drafts=(Draft(E.EMERGENCY_CALL, {"number": number}),),
                    findings=(Finding(Kind.INSTRUCTION, "call_999", f"Calling {number}.",
                                      "emergency call", pack.school, ""),))


def _outcome(state: VisitState, cmd: c.RecordOutcome, pack: Pack, now: datetime) -> Decision:
    if state.visit_started is None:
        raise c.CommandError("there is no outcome to record: the visit did not take place")
    _must_text(cmd.summary, "what happened on the visit")
    rule = pack.outcome
    missing_owner = [a.what for a in cmd.actions if not a.by_whom.strip()]
    if rule.actions_need_owner and missing_owner:
        assert rule.cite is not None
        return refused(finding(Kind.REFUSAL, "actions_need_owner",
                               "Say who will carry out each action.",
                               f"no one is named for: {'; '.join(missing_owner)}", pack, rule.cite))
    payload = {
        "child_seen": cmd.child_seen, "summary": cmd.summary.strip(),
        "agreements": list(cmd.agreements),
        "actions": [{"what": a.what, "by_whom": a.by_whom} for a in cmd.actions],
    }
    return Decision(drafts=(Draft(E.OUTCOME_RECORDED, payload),))


# --- after ---------------------------------------------------------------------------------

def _auto_follow_ups(state: VisitState, pack: Pack, whens: tuple[str, ...]) -> list[Draft]:
    return [
        Draft(E.FOLLOW_UP_CREATED, {"follow_up_id": f"{state.visit_id}/{rule.id}",
                                    "kind": rule.id, "text": rule.text})
        for rule in pack.follow_ups
        if rule.when in whens and f"{state.visit_id}/{rule.id}" not in state.follow_ups
    ]


def _leave(state: VisitState, cmd: c.Leave, pack: Pack, now: datetime) -> Decision:
    findings: list[Finding] = []
    nobody_home = state.phase in (Phase.WAITING, Phase.NOT_AT_HOME)
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
    whens: tuple[str, ...] = ()
    if nobody_home:
        whens = ("not_at_home",)
    elif state.phase is Phase.CALLED_OFF:
        whens = ("cancelled",)
    drafts = [Draft(E.LEFT, {"returning_directly": cmd.returning_directly}),
              *_auto_follow_ups(state, pack, whens)]
    return Decision(drafts=tuple(drafts), findings=tuple(findings))


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


def _return(state: VisitState, cmd: c.Return, pack: Pack, now: datetime) -> Decision:
    drafts = [Draft(E.RETURNED, {"to_school": cmd.to_school})]
    if state.visit_started is not None:
        drafts += _auto_follow_ups(state, pack, ("actions",)) if _has_actions(state) else []
    return Decision(drafts=tuple(drafts), findings=after_steps(state, pack))


def _has_actions(state: VisitState) -> bool:
    return state.outcome is not None and bool(state.outcome.detail.get("actions"))


def _debrief(state: VisitState, cmd: c.Debrief, pack: Pack, now: datetime) -> Decision:
    _must_text(cmd.with_whom, "who the debrief was with")
    findings = tuple(Finding(Kind.STEP, "open_follow_up", f.text, "follow-up still open",
                             pack.school, "")
                     for f in state.follow_ups.values() if f.done_at is None)
    payload = {"with_whom": cmd.with_whom.strip(), "note": cmd.note.strip()}
    return Decision(drafts=(Draft(E.DEBRIEFED, payload),), findings=findings)


def _create_follow_up(
    state: VisitState, cmd: c.CreateFollowUp, pack: Pack, now: datetime
) -> Decision:
    _must_text(cmd.follow_up_id, "a follow-up id")
    _must_text(cmd.text, "what the follow-up is")
    if cmd.follow_up_id in state.follow_ups:
        raise c.CommandError("that follow-up already exists")
    payload = {"follow_up_id": cmd.follow_up_id, "kind": cmd.kind, "text": cmd.text.strip()}
    return Decision(drafts=(Draft(E.FOLLOW_UP_CREATED, payload),))


def _complete_follow_up(
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


_Handler = Callable[[VisitState, Any, Pack, datetime], Decision]
_HANDLERS: dict[type, tuple[EventType, _Handler]] = {
    c.Plan: (E.PLANNED, _plan),
    c.AssessRisk: (E.RISK_ASSESSED, _assess_risk),
    c.Authorise: (E.AUTHORISED, _authorise),
    c.SignOut: (E.SIGNED_OUT, _sign_out),
    c.CheckIn: (E.CHECKED_IN, _check_in),
    c.Arrive: (E.ARRIVED, _arrive),
    c.NoAnswer: (E.NO_ANSWER, _no_answer),
    c.ParentRunningLate: (E.WAIT_STARTED, _running_late),
    c.LeaveNote: (E.NOT_AT_HOME_NOTE_LEFT, _leave_note),
    c.DoorAnswered: (E.DOOR_ANSWERED, _door_answered),
    c.Answer: (E.CHECKLIST_ANSWERED, _answer),
    c.Enter: (E.ENTERED, _enter),
    c.DoorstepOnly: (E.DOORSTEP_ONLY, _doorstep_only),
    c.Cancel: (E.CANCELLED, _cancel),
    c.GoUpstairs: (E.UPSTAIRS, _upstairs),
    c.EnterBedroom: (E.UPSTAIRS, _bedroom),
    c.RaiseConcern: (E.CONCERN_RAISED, _concern),
    c.UseSafePhrase: (E.SAFE_PHRASE_USED, _safe_phrase),
    c.EmergencyCall: (E.EMERGENCY_CALL, _emergency),
    c.RecordOutcome: (E.OUTCOME_RECORDED, _outcome),
    c.Leave: (E.LEFT, _leave),
    c.Return: (E.RETURNED, _return),
    c.Debrief: (E.DEBRIEFED, _debrief),
    c.CreateFollowUp: (E.FOLLOW_UP_CREATED, _create_follow_up),
    c.CompleteFollowUp: (E.FOLLOW_UP_DONE, _complete_follow_up),
}
