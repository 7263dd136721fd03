"""Rules before leaving school: planning, the risk assessment, authorisation, sign-out."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.facts import is_evening, must_text, required_steps, runs_into_evening
from fieldapp.domain.findings import Decision, Draft, Finding, Kind, finding, refused
from fieldapp.domain.lifecycle import Phase
from fieldapp.domain.policy import (
    Hours,
    Pack,
    RiskEffect,
    Step,
)
from fieldapp.domain.state import VisitState

E = EventType


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def plan(state: VisitState, cmd: c.Plan, pack: Pack, now: datetime) -> Decision:
    for value, what in ((cmd.child_ref, "the pupil reference"), (cmd.address, "the address"),
                        (cmd.purpose, "the purpose of the visit")):
        must_text(value, what)
    if cmd.scheduled_at.tzinfo is None:
        raise c.CommandError("the visit time must carry its UTC offset")
    zone = pack.hours.zone
    if cmd.scheduled_at.astimezone(zone).date() < now.astimezone(zone).date():
        raise c.CommandError(f"the visit time ({cmd.scheduled_at.astimezone(zone):%d %b %H:%M}) "
                             "has passed: plan it for today or later")
    ids = [member.staff_id for member in cmd.staff]
    if not ids or len(set(ids)) != len(ids) or not all(i.strip() == i != "" for i in ids):
        raise c.CommandError("the visiting staff must be listed, each once, by staff id "
                             "(no spaces around it)")
    if not all(member.name.strip() for member in cmd.staff):
        raise c.CommandError("each member of staff visiting needs a name")
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
        **({"telephone": cmd.telephone.strip()} if cmd.telephone.strip() else {}),
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


def assess_risk(state: VisitState, cmd: c.AssessRisk, pack: Pack, now: datetime) -> Decision:
    """A risk assessment is recorded as answered, also when its answers refuse the visit: a
    refused assessment voids the earlier sign-offs and blocks authorisation and sign-out until
    a new one is accepted and signed off (an earlier, clean one does not stay in force)."""
    risk = pack.risk
    known = {q.id for q in risk.questions}
    unknown = sorted(set(cmd.answers) - known)
    if unknown:
        raise c.CommandError(f"unknown risk questions: {', '.join(unknown)}")
    missing = [q for q in risk.questions if q.id not in cmd.answers]
    if missing:
        raise c.CommandError("answer every risk question: "
                             + "; ".join(q.text for q in missing))
    level = cmd.level
    if risk.levels:
        level = next((known for known in risk.levels
                      if known.casefold() == cmd.level.strip().casefold()), "")
        if not level:
            raise c.CommandError(f"choose a risk level: {', '.join(risk.levels)}")
    payload: dict[str, Any] = {"answers": dict(cmd.answers), "level": level,
                               "mitigations": cmd.mitigations.strip()}
    refusals = _risk_refusals(state, pack, payload)
    if refusals:
        payload["refused"] = list(dict.fromkeys(f.code for f in refusals))
        return Decision(drafts=(Draft(E.RISK_ASSESSED, payload),), findings=tuple(refusals))
    findings = [Finding(Kind.STEP, "authorise", f"Get this visit signed off: {s.label}.",
                        "needed before sign-out", pack.school, "")
                for s in required_steps(state, pack)]
    if state.phase is Phase.AUTHORISED:
        findings.insert(0, Finding(Kind.WARNING, "authorise_again",
                                   "The new risk assessment needs a fresh authorisation.",
                                   "the risk assessment changed after it was signed off",
                                   pack.school, ""))
    return Decision(drafts=(Draft(E.RISK_ASSESSED, payload),), findings=tuple(findings))


def _risk_refusals(
    state: VisitState, pack: Pack, assessment: Mapping[str, Any]
) -> list[Finding]:
    """Why an assessment (answers, level, mitigations, as recorded) cannot let the visit go."""
    risk = pack.risk
    refusals: list[Finding] = []
    mitigate = False
    answers = assessment.get("answers", {})
    for question in risk.questions:
        answer = answers.get(question.id)
        if type(answer) is not bool:
            continue  # a question added to the pack since: the assessment is redone anyway
        effect = question.if_yes if answer else question.if_no
        because = f"'{question.text}' answered {'yes' if answer else 'no'}"
        if effect is RiskEffect.BLOCK:
            refusals.append(finding(Kind.REFUSAL, "visit_must_not_happen", question.say or
                                    "Do not make this visit: use other means of contact.",
                                    because, pack, question.cite))
        elif effect is RiskEffect.REFUSE:
            refusals.append(finding(Kind.REFUSAL, "risk_assessment_incomplete", question.say or
                                    "Put this right before the risk assessment can be completed.",
                                    because, pack, question.cite))
        elif effect is RiskEffect.MITIGATE:
            mitigate = True
    if mitigate and not str(assessment.get("mitigations", "")).strip():
        assert risk.mitigations_cite is not None
        refusals.append(finding(Kind.REFUSAL, "mitigations_required",
                                "List the actions you have taken or will take to reduce the risk.",
                                "a risk question was answered yes", pack, risk.mitigations_cite))
    level, floor = assessment.get("level"), risk.first_visit_min
    if (state.plan.get("first_visit") and floor is not None and level in risk.levels
            and risk.levels.index(level) < risk.levels.index(floor)):
        assert risk.levels_cite is not None
        refusals.append(finding(Kind.REFUSAL, "first_visit_risk_level",
                                f"Rate a first visit at least {floor}.",
                                f"a first visit was rated {level}", pack, risk.levels_cite))
    return refusals


def assessment_refusals(state: VisitState, pack: Pack) -> list[Finding]:
    """While the latest risk assessment stands refused, why the visit may not be signed off
    or leave: its own refusals, with the policy's words."""
    if state.risk is None or not state.risk.get("refused"):
        return []
    return _risk_refusals(state, pack, state.risk) or [
        Finding(Kind.REFUSAL, "risk_assessment_refused", "Complete a new risk assessment.",
                "the latest risk assessment was refused", pack.school, "")]


def authorise_refusals(state: VisitState, pack: Pack, step: Step) -> list[Finding]:
    """Why no sign-off can be given yet, whoever gives it."""
    if pack.risk.questions and state.risk is None:
        return [finding(Kind.REFUSAL, "risk_assessment_first",
                        "Complete the risk assessment before the visit is authorised.",
                        "there is no risk assessment yet", pack, step.cite)]
    return assessment_refusals(state, pack)


def authorise(state: VisitState, cmd: c.Authorise, pack: Pack, now: datetime) -> Decision:
    must_text(cmd.by, "the name of who authorised the visit")
    steps = {s.id: s for s in required_steps(state, pack)}
    step = steps.get(cmd.step)
    if step is None:
        raise c.CommandError(f"no such authorisation step: {cmd.step!r}; "
                             f"this visit needs {', '.join(steps)}")
    if authorise_refusals(state, pack, step):
        return refused(*authorise_refusals(state, pack, step))
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
    if not remaining:  # fully authorised: what to tick before leaving
        findings = tuple(finding(Kind.STEP, f"check_{check.id}", check.text, "before you leave",
                                 pack, check.cite) for check in pack.sign_out.checks)
    return Decision(drafts=(Draft(E.AUTHORISED, payload),), findings=findings)


def sign_out_refusals(state: VisitState, pack: Pack, now: datetime) -> list[Finding]:
    """Why the pair may not set out now, whatever they fill in: a refused risk assessment, a
    sign-off missing, the evening."""
    refusals = assessment_refusals(state, pack)
    done = state.authorised_steps()
    refusals += [finding(Kind.REFUSAL, "not_authorised", f"Do not leave yet: {step.label}.",
                         "the visit is not fully authorised", pack, step.cite)
                 for step in required_steps(state, pack) if step.id not in done]
    return refusals + _too_late(pack, now)


def _too_late(pack: Pack, start: datetime, end: datetime | None = None) -> list[Finding]:
    """Where the policy allows no evening visits: refused outside the day now, or for a
    visit from `start` that would not be back by the evening."""
    hours = pack.hours
    if hours.evening is not Hours.NEVER or hours.cite is None:
        return []
    day = f"{hours.day_from:%H:%M} to {hours.evening_from:%H:%M}"
    if is_evening(start, pack):
        return [finding(Kind.REFUSAL, "no_evening_visits", f"Do not set out now: home visits "
                        f"take place in the day ({day}).",
                        "no home visits take place in the evening", pack, hours.cite)]
    if end is not None and runs_into_evening(start, end, pack):
        return [finding(Kind.REFUSAL, "no_evening_visits", f"Be back by "
                        f"{hours.evening_from:%H:%M}: the visit would run into the evening.",
                        "no home visits take place in the evening", pack, hours.cite)]
    return []


def sign_out(state: VisitState, cmd: c.SignOut, pack: Pack, now: datetime) -> Decision:
    if cmd.expected_return.tzinfo is None:
        raise c.CommandError("the expected return time must carry its UTC offset")
    if cmd.expected_return <= now:
        raise c.CommandError("the expected return time must be in the future")
    if cmd.expected_leave is not None and not now < cmd.expected_leave <= cmd.expected_return:
        raise c.CommandError("the time you expect to leave the home must be before your return")
    if cmd.expected_arrival is not None and not now <= cmd.expected_arrival <= (
            cmd.expected_leave or cmd.expected_return):
        raise c.CommandError("the time you expect to arrive must come before you leave")
    refusals = sign_out_refusals(state, pack, now)
    out = pack.sign_out
    missing = [who.replace("|", " or ") for who in out.tell
               if not set(who.split("|")) & set(cmd.told)]
    if missing:
        refusals.append(finding(Kind.REFUSAL, "tell_before_leaving",
                                f"Tell {', '.join(missing)} who you are visiting and when you "
                                "will be back.", "not everyone the policy names has been told",
                                pack, out.cite))
    if "vehicle" in out.record and not cmd.vehicles:
        refusals.append(finding(Kind.REFUSAL, "vehicle_required",
                                "Record the vehicle you are using (or 'on foot').",
                                "the office needs the vehicle details", pack, out.cite))
    lead = state.staff[0].mobile.strip() if state.staff else ""
    for number, text, say in (
            ("emergency_number", cmd.emergency_number.strip(),
             "Give the office an emergency contact number."),
            ("mobile", cmd.mobile.strip() or lead,
             "Give the office the lead visitor's mobile number.")):
        if number in out.record and not text:
            refusals.append(finding(Kind.REFUSAL, f"{number}_required", say,
                                    f"the policy asks for the {number.replace('_', ' ')}",
                                    pack, out.cite))
    for record, given, what in (("arrival_estimate", cmd.expected_arrival, "arrive at"),
                                ("departure_estimate", cmd.expected_leave, "leave")):
        if record in out.record and given is None:
            refusals.append(finding(Kind.REFUSAL, f"{record}_required",
                                    f"Give the office the time you expect to {what} the home.",
                                    f"the policy asks for your {record.replace('_', ' ')}",
                                    pack, out.cite))
    pair = pack.pair
    if pair.same_car and len(cmd.vehicles) > 1:
        refusals.append(finding(Kind.REFUSAL, "same_car", "Travel together in one car.",
                                "the pair are using more than one vehicle", pack, pair.same_car))
    for check in out.checks:
        if check.id not in cmd.checks:
            refusals.append(finding(Kind.REFUSAL, f"check_{check.id}", check.text,
                                    "not ticked before leaving", pack, check.cite))
    if out.remind_safe_phrase and not cmd.safe_phrase_reminded:
        phrase = state.plan.get("safe_phrase", "")
        refusals.append(finding(Kind.REFUSAL, "remind_safe_phrase",
                                f"Remind reception of the safe phrase: \"{phrase}\".",
                                "reception must know the phrase before you leave", pack, out.cite))
    if not _too_late(pack, now):
        refusals += _too_late(pack, now, cmd.expected_return)
    if refusals:
        return refused(*refusals)
    payload = {
        "expected_return": cmd.expected_return.isoformat(),
        "expected_leave": _iso(cmd.expected_leave),
        "expected_arrival": _iso(cmd.expected_arrival), "vehicles": list(cmd.vehicles),
        "told": list(cmd.told), "safe_phrase_reminded": cmd.safe_phrase_reminded,
        "checks": list(cmd.checks), "emergency_number": cmd.emergency_number.strip(),
        "mobile": cmd.mobile.strip(),  # as given now; else the plan's lead's stands
    }
    findings: list[Finding] = []
    if out.check_in_calls:
        findings.append(finding(Kind.STEP, "check_in_before_arriving",
                                "Phone the office before you arrive at the property.",
                                "the office keeps track of where you are", pack, out.cite))
    return Decision(drafts=(Draft(E.SIGNED_OUT, payload),), findings=tuple(findings))
