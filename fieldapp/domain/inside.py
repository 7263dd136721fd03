"""Rules during the visit: upstairs and bedrooms, concerns, the safe phrase, 999, the outcome."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.facts import must_text, rule_findings, safe_phrase
from fieldapp.domain.findings import Decision, Draft, Finding, Kind, finding, refused
from fieldapp.domain.policy import (
    CONCERN_KINDS,
    Bedroom,
    Cite,
    Pack,
    Upstairs,
)
from fieldapp.domain.state import VisitState

E = EventType


def go_upstairs(state: VisitState, cmd: c.GoUpstairs, pack: Pack, now: datetime) -> Decision:
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


def enter_bedroom(state: VisitState, cmd: c.EnterBedroom, pack: Pack, now: datetime) -> Decision:
    inside = pack.inside
    cite = inside.bedroom_cite
    if bedroom_refusals(pack):
        return refused(*bedroom_refusals(pack))
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


def bedroom_refusals(pack: Pack) -> tuple[Finding, ...]:
    inside = pack.inside
    if inside.bedroom is not Bedroom.NEVER:
        return ()
    assert inside.bedroom_cite is not None  # the loader insists on it
    return (finding(Kind.REFUSAL, "never_childs_bedroom", "Do not enter a child's bedroom.",
                    "the policy never allows it", pack, inside.bedroom_cite),)


def inside_reminders(pack: Pack) -> tuple[Finding, ...]:
    """What the policy reminds staff of, inside the home."""
    return tuple(finding(Kind.INSTRUCTION, "reminder", text, "inside the home", pack, cite)
                 for text, cite in pack.inside.reminders)


def never_alone(pack: Pack) -> tuple[Finding, ...]:
    """While the parent is out of the room, where the policy says staff are never alone with
    the pupil."""
    cite = pack.inside.parent_present
    if cite is None:
        return ()
    return (finding(Kind.INSTRUCTION, "never_alone_with_pupil",
                    "Do not stay alone with the pupil: ask the parent to come back, or leave the "
                    "room with them until they do.", "the parent has left the room", pack,
                    cite),)


def adult_in_room(state: VisitState, cmd: c.AdultInRoom, pack: Pack, now: datetime) -> Decision:
    """The parent (or responsible adult) left the room while staff are with the pupil, or came
    back. Where the policy says staff are never alone with a pupil, staff are told what to do."""
    if cmd.present is state.adult_in_room:
        raise c.CommandError("the adult is already recorded as "
                             + ("in the room" if cmd.present else "out of the room"))
    return Decision(drafts=(Draft(E.ADULT_IN_ROOM, {"present": cmd.present}),),
                    findings=() if cmd.present else never_alone(pack))


def raise_concern(state: VisitState, cmd: c.RaiseConcern, pack: Pack, now: datetime) -> Decision:
    if cmd.kind not in CONCERN_KINDS:
        raise c.CommandError(f"kind of concern: one of {', '.join(CONCERN_KINDS)}")
    rule = pack.concerns[cmd.kind]
    findings = rule_findings(rule, f"concern raised: {cmd.kind.replace('_', ' ')}", pack)
    return Decision(drafts=(Draft(E.CONCERN_RAISED, {"kind": cmd.kind, "note": cmd.note}),),
                    findings=findings)


def use_safe_phrase(state: VisitState, cmd: c.UseSafePhrase, pack: Pack, now: datetime) -> Decision:
    phrase = safe_phrase(state, pack)
    phone = pack.contacts.reception_phone
    say = f"Calling reception{f' on {phone}' if phone else ''}. Say: \"{phrase}\"" if phrase \
        else f"Calling reception{f' on {phone}' if phone else ''}: say you need help."
    findings: tuple[Finding, ...] = (Finding(Kind.INSTRUCTION, "say_safe_phrase", say,
                                             "you used the safe phrase", pack.school, ""),)
    if pack.safe_phrase.cite is not None:
        findings = (finding(Kind.INSTRUCTION, "say_safe_phrase", say, "you used the safe phrase",
                            pack, pack.safe_phrase.cite),)
    payload = {"phrase": phrase, "reception_phone": phone, **_where(cmd.position)}
    return Decision(drafts=(Draft(E.SAFE_PHRASE_USED, payload),), findings=findings)


def acknowledge_alert(state: VisitState, cmd: c.AcknowledgeAlert, pack: Pack,
                      now: datetime) -> Decision:
    """Someone at school has the alert in hand: it stops sounding on every board. Each alert
    is acknowledged once; the first to do it is who the DSL sees."""
    alert = next((a for a in state.alerts if a.detail.get("id") == cmd.alert_id), None)
    if alert is None:
        raise c.CommandError(f"no alert {cmd.alert_id!r} on this visit")
    if alert.detail.get("acknowledged"):
        raise c.CommandError(f"this alert was acknowledged already by "
                             f"{alert.detail['acknowledged']['by']}")
    must_text(cmd.by, "who acknowledged")
    payload = {"alert": cmd.alert_id, "by": cmd.by.strip(), "role": cmd.role}
    return Decision(drafts=(Draft(E.ALERT_ACKNOWLEDGED, payload),))


def _where(position: c.Position | None) -> dict[str, Any]:
    """The last known position, for the alert, where the person allowed location."""
    if position is None:
        return {}
    lat, lon = position
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
               for x in (lat, lon)) or abs(lat) > 90 or abs(lon) > 180:
        raise c.CommandError("a position is a latitude (-90 to 90) and a longitude (-180 to 180)")
    return {"position": {"lat": float(lat), "lon": float(lon)}}


def emergency_call(state: VisitState, cmd: c.EmergencyCall, pack: Pack, now: datetime) -> Decision:
    number = pack.contacts.emergency
    return Decision(drafts=(Draft(E.EMERGENCY_CALL, {"number": number,
                                                     **_where(cmd.position)}),),
                    findings=(Finding(Kind.INSTRUCTION, "call_999", f"Calling {number}.",
                                      "emergency call", pack.school, ""),))


def record_outcome(state: VisitState, cmd: c.RecordOutcome, pack: Pack, now: datetime) -> Decision:
    if state.visit_started is None:
        raise c.CommandError("there is no outcome to record: the visit did not take place")
    must_text(cmd.summary, "what happened on the visit")
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
        "actions": [{"what": a.what, "by_whom": a.by_whom,
                     **({"due": a.due.isoformat()} if a.due else {})} for a in cmd.actions],
    }
    return Decision(drafts=(Draft(E.OUTCOME_RECORDED, payload),))
