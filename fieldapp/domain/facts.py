"""Facts about a visit under its pack, shared by the rules: which sign-offs it needs, which
doorstep checks apply, whether a time is evening, and how a pack rule becomes a finding.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.findings import Draft, Finding, Kind, finding
from fieldapp.domain.policy import (
    ChecklistItem,
    Hours,
    Pack,
    Rule,
    Step,
    Then,
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


def cite_rule(kind: Kind, code: str, rule: Rule, because: str, pack: Pack) -> Finding:
    assert rule.cite is not None  # the loader insists on a cite for every non-continue rule
    return replace(finding(kind, code, rule.say, because, pack, rule.cite),
                   then=tuple(then.value for then in rule.then))


def rule_findings(rule: Rule, because: str, pack: Pack) -> tuple[Finding, ...]:
    if rule.then == (Then.CONTINUE,):
        if rule.say:
            return (Finding(Kind.INSTRUCTION, "continue", rule.say, because, pack.school, ""),)
        return ()
    return (cite_rule(Kind.INSTRUCTION, rule.then[0].value, rule, because, pack),)


def is_evening(moment: datetime, pack: Pack) -> bool:
    """Outside the day, by the school's own clock (its pack's time zone), whatever offset the
    time carries: 17:30 UTC in summer is 18:30 at a school in England."""
    clock = moment.astimezone(pack.hours.zone).time()
    return bool(clock >= pack.hours.evening_from or clock < pack.hours.day_from)


def day_boundary(moment: datetime, pack: Pack) -> datetime:
    """The next moment after `moment` at which the school's day starts or its evening does."""
    zone = pack.hours.zone
    local = moment.astimezone(zone)
    for days in (0, 1):
        for at in (pack.hours.day_from, pack.hours.evening_from):
            boundary = datetime.combine(local.date() + timedelta(days=days), at, zone)
            if boundary > moment:
                return boundary
    raise AssertionError("a day has a start or an evening within two days")  # pragma: no cover


def runs_into_evening(start: datetime, end: datetime, pack: Pack) -> bool:
    """Whether any moment from `start` until `end` is outside the day (back by the evening's
    first minute is in time; leaving at 17:00 to be back tomorrow morning is not)."""
    return is_evening(start, pack) or end > day_boundary(start, pack)


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


def answered(item: ChecklistItem, answer: str) -> str:
    """A checklist answer as staff gave it, in its own words: "'Do you both feel safe?': Not
    safe", never a bare yes or no."""
    return f"'{item.ask}': {item.answers[answer].label}"


def must_text(value: str, what: str) -> str:
    if not value.strip():
        raise c.CommandError(f"{what} is required")
    return value.strip()


def safe_phrase(state: VisitState, pack: Pack) -> str:
    return str(state.plan.get("safe_phrase") or pack.safe_phrase.phrase)


def not_at_home_text(pack: Pack) -> str:
    """The note's text, with the school's phone number filled in."""
    phone = pack.contacts.school_phone or "the school"
    return pack.not_at_home.text.replace("{school_phone}", phone)


def auto_follow_ups(state: VisitState, pack: Pack, whens: tuple[str, ...]) -> list[Draft]:
    return [
        Draft(E.FOLLOW_UP_CREATED, {"follow_up_id": f"{state.visit_id}/{rule.id}",
                                    "kind": rule.id, "text": rule.text})
        for rule in pack.follow_ups
        if rule.when in whens and f"{state.visit_id}/{rule.id}" not in state.follow_ups
    ]
