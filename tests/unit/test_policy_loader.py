"""The policy pack loader: a good pack loads, and every broken one is refused with a clear error.

Each broken pack is the shipped Uplands pack read into a dict, changed in one place and written
back as TOML, so each test shows the one thing that makes the pack unusable.
"""

from __future__ import annotations

import copy
import json
import re
import tomllib
from collections.abc import Callable
from datetime import time
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from fieldapp.domain.policy import (
    CONCERN_KINDS,
    SIGN_OUT_RECORDS,
    WHO_ANSWERS,
    Bedroom,
    Check,
    Cite,
    Contacts,
    Duration,
    Hours,
    HoursRule,
    Inside,
    NotAtHome,
    NoteRule,
    OutcomeRule,
    Pack,
    PackError,
    Risk,
    RiskEffect,
    Rule,
    SafePhrase,
    Then,
    Upstairs,
    Wait,
    load_pack,
    pack_ids,
    parse_pack,
)

UPLANDS = Path(str(resources.files("fieldapp.policies").joinpath("uplands-junior.toml")))
SOURCE = "school.toml"
CITE = {"section": "School setting: chosen by the school"}
MISSPELT = "a known field (is it misspelt?)"
CHECK = {"id": "alarm", "text": "The alarm is charged", "cite": CITE}
QUOTED = {"section": "During the Visit", "quote": "Do not carry money."}

Data = dict[str, Any]


# --- a tiny dict -> TOML writer (tomli_w is not a dependency) --------------------------------


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        pairs = ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items())
        return "{ " + pairs + " }" if pairs else "{}"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(data: Data) -> str:
    """Every top-level key on its own line, tables inline: valid TOML for any pack dict."""
    return "".join(f"{toml_key(key)} = {toml_value(value)}\n" for key, value in data.items())


# --- helpers ---------------------------------------------------------------------------------


def uplands_data() -> Data:
    return tomllib.loads(UPLANDS.read_text(encoding="utf-8"))


def parse(data: Data) -> Pack:
    return parse_pack(to_toml(data), source=SOURCE)


def changed(change: Callable[[Data], Any]) -> Data:
    data = uplands_data()
    change(data)
    return data


def refused(data: Data | str) -> PackError:
    text = data if isinstance(data, str) else to_toml(data)
    with pytest.raises(PackError) as error:
        parse_pack(text, source=SOURCE)
    return error.value


def assert_refused(data: Data | str, where: str, expected: str) -> None:
    error = refused(data)
    assert (error.source, error.where) == (SOURCE, where), str(error)
    assert expected in error.expected, str(error)
    assert str(error) == f"{SOURCE}: {where}: expected {error.expected}"


def _locate(data: Data, path: str) -> tuple[Any, str | int]:
    """The container holding `a.b[2].c`, and the key of it there."""
    *parents, last = re.findall(r"[^.\[\]]+", path)
    node: Any = data
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    return node, int(last) if last.isdigit() else last


def setter(path: str, value: Any) -> Callable[[Data], None]:
    """A change that sets `a.b[2].c` to `value` (a copy, so cases never share lists)."""

    def change(data: Data) -> None:
        node, key = _locate(data, path)
        node[key] = copy.deepcopy(value)

    return change


def deleter(path: str) -> Callable[[Data], None]:
    """A change that removes `a.b[2].c`."""

    def change(data: Data) -> None:
        node, key = _locate(data, path)
        del node[key]

    return change


def both(*changes: Callable[[Data], None]) -> Callable[[Data], None]:
    def change(data: Data) -> None:
        for each in changes:
            each(data)

    return change


# --- the good pack ---------------------------------------------------------------------------


def test_the_toml_writer_reproduces_the_shipped_pack() -> None:
    data = uplands_data()
    assert tomllib.loads(to_toml(data)) == data
    assert parse(data) == load_pack("uplands-junior")


RULE = {"then": ["wait_for_adult"], "say": "Ask for the parent.", "cite": CITE}


def minimal_data() -> Data:
    """A pack with only the fields a pack must have."""
    return {
        "format": 1, "id": "minimal", "school": "Minimal School", "policy": "Visits, 2025",
        "source": "minimal.txt",
        "authorisation": {"steps": [{"id": "head", "label": "Head", "roles": ["head"],
                                     "cite": CITE}]},
        "notice": {"advance": "required", "cite": CITE},
        "pair": {"min_staff": 2, "cite": CITE},
        "risk": {},
        "hours": {"evening": "no_rule"},
        "sign_out": {"cite": CITE},
        "wait": {},
        "not_at_home": {"note": "none"},
        "door": {"parent": {"then": ["continue"]}, "delegated_adult": {"then": ["continue"]},
                 "unsupervised_child": RULE, "sibling": RULE, "unknown": RULE},
        "inside": {"upstairs": "no_rule", "bedroom": "no_rule"},
        "concerns": {kind: {"then": ["contact_dsl"], "say": "Tell the DSL.", "cite": CITE}
                     for kind in CONCERN_KINDS},
        "cancel": {},
        "duration": {},
        "overdue": {"grace_minutes": 0, "escalation": ["Phone the staff."], "cite": CITE},
        "safe_phrase": {},
        "outcome": {},
    }


def test_a_pack_with_only_the_required_fields_takes_the_defaults() -> None:
    pack = parse(minimal_data())
    assert pack.contacts == Contacts(reception_phone="", school_phone="", emergency="999")
    assert pack.authorisation.unannounced_steps is None
    assert pack.notice.exceptions == () and pack.notice.entry_requires_appointment is None
    assert pack.pair.strict is True
    assert (pack.pair.safeguarding_trained, pack.pair.knows_family, pack.pair.same_car) == (
        None, None, None)
    assert pack.risk == Risk(questions=(), levels=(), first_visit_min=None,
                             mitigations_cite=None, levels_cite=None)
    assert pack.hours == HoursRule(evening=Hours.NO_RULE, evening_from=time(18),
                                   day_from=time(7), approval_roles=(), cite=None)
    assert (pack.sign_out.tell, pack.sign_out.record, pack.sign_out.checks) == ((), (), ())
    assert not pack.sign_out.remind_safe_phrase and not pack.sign_out.check_in_calls
    assert pack.wait == Wait(no_answer_minutes=None, late_parent_minutes=None,
                             call_via_school=None, cite=None, late_cite=None)
    assert pack.not_at_home == NotAtHome(note=NoteRule.NONE, text="", cite=None)
    assert pack.checklist == ()
    assert pack.inside == Inside(upstairs=Upstairs.NO_RULE, upstairs_cite=None,
                                 bedroom=Bedroom.NO_RULE, bedroom_cite=None, reminders=())
    assert (pack.cancel_reason_to, pack.cancel_cite) == ("", None)
    assert pack.duration == Duration(normal_minutes=None, max_minutes=None, longer_needs="",
                                     cite=None)
    assert pack.overdue.grace_minutes == 0
    assert pack.safe_phrase == SafePhrase(phrase="", cite=None)
    assert pack.outcome == OutcomeRule(actions_need_owner=False, record=(), cite=None)
    assert (pack.after, pack.follow_ups, pack.debrief) == ((), (), None)


@pytest.mark.parametrize("key", list(minimal_data()))
def test_every_part_of_the_minimal_pack_is_required(key: str) -> None:
    data = minimal_data()
    del data[key]
    assert_refused(data, key, "(missing")


def test_list_items_take_their_defaults() -> None:
    data = minimal_data()
    data["risk"] = {"questions": [{"id": "q", "text": "Read it?", "cite": CITE}]}
    data["checklist"] = [{"id": "id_shown", "stage": "door", "ask": "ID shown?",
                          "answers": {"yes": {"then": ["continue"], "label": "ID shown"},
                                      "no": {"then": ["show_id"], "say": "Show ID.",
                                             "cite": CITE, "label": "No ID"}}}]
    data["after"] = [{"id": "form", "text": "Hand in the form", "cite": CITE}]
    pack = parse(data)
    assert (pack.risk.questions[0].if_yes, pack.risk.questions[0].if_no) == (
        RiskEffect.OK, RiskEffect.OK)
    assert pack.checklist[0].applies_if == "always"
    assert pack.checklist[0].answers["yes"] == Rule((Then.CONTINUE,), "", None, "ID shown")
    assert pack.after[0].when == "always"


def test_the_uplands_pack_loads_with_its_rules() -> None:
    pack = load_pack("uplands-junior")
    assert pack.id == "uplands-junior"
    assert set(pack.door) == set(WHO_ANSWERS)
    assert set(pack.concerns) == set(CONCERN_KINDS)
    assert all(isinstance(rule.then[0], Then) for rule in pack.door.values())
    assert pack.checklist and pack.authorisation.steps


def test_contacts_can_be_left_out_and_default_to_999_for_emergencies() -> None:
    pack = parse(changed(deleter("contacts")))
    assert (pack.contacts.reception_phone, pack.contacts.school_phone) == ("", "")
    assert pack.contacts.emergency == "999"


def test_a_pack_can_set_every_optional_rule() -> None:
    data = uplands_data()
    data["authorisation"]["unannounced_steps"] = [
        {"id": "head", "label": "Headteacher", "roles": ["head"], "cite": CITE},
    ]
    data["notice"]["entry_requires_appointment"] = CITE
    data["pair"] |= {"strict": False, "safeguarding_trained": CITE, "knows_family": CITE,
                     "same_car": CITE}
    data["risk"] |= {"levels": ["low", "medium", "high"], "first_visit_min": "medium",
                     "levels_cite": CITE, "mitigations_cite": CITE}
    data["risk"]["questions"][0]["if_yes"] = "mitigate"
    data["hours"] = {"evening": "needs_approval", "evening_from": "17:30", "day_from": "08:00",
                     "approval_roles": ["head"], "cite": CITE}
    data["sign_out"] |= {"remind_safe_phrase": True, "check_in_calls": True,
                         "record": list(SIGN_OUT_RECORDS),
                         "checks": [{"id": "alarm", "text": "The alarm is charged",
                                     "cite": CITE}]}
    data["wait"] = {"no_answer_minutes": 10, "late_parent_minutes": 30,
                    "call_via_school": CITE, "cite": CITE}
    data["checklist"][0] |= {"stage": "arrival", "applies_if": "separate_cars"}
    data["cancel"] = {"reason_to": "parents", "cite": CITE}
    data["duration"] = {"normal_minutes": 45, "max_minutes": 60, "longer_needs": "head",
                        "cite": CITE}
    data["safe_phrase"]["phrase"] = "have I left the red folder with you?"
    data["outcome"]["actions_need_owner"] = True
    data["follow_ups"].append({"id": "attendance", "when": "attendance_below", "text": "Check",
                               "threshold_percent": 90, "period_months": 3, "cite": CITE})
    data["debrief"] = CITE
    pack = parse(data)
    assert [step.id for step in pack.authorisation.unannounced_steps or ()] == ["head"]
    assert pack.notice.entry_requires_appointment == Cite(CITE["section"], "")
    assert not pack.pair.strict and pack.pair.same_car is not None
    assert pack.risk.first_visit_min == "medium"
    assert pack.risk.questions[0].if_yes is RiskEffect.MITIGATE
    assert pack.hours.approval_roles == ("head",)
    assert (pack.hours.evening_from, pack.hours.day_from) == (time(17, 30), time(8))
    assert pack.sign_out.check_in_calls and pack.sign_out.record == SIGN_OUT_RECORDS
    assert pack.sign_out.checks == (Check("alarm", "The alarm is charged", Cite(**CITE, quote="")),)
    assert (pack.wait.no_answer_minutes, pack.wait.late_parent_minutes) == (10, 30)
    assert pack.checklist[0].applies_if == "separate_cars"
    assert pack.cancel_reason_to == "parents"
    assert (pack.duration.normal_minutes, pack.duration.max_minutes) == (45, 60)
    assert pack.safe_phrase.phrase.startswith("have I left")
    assert pack.outcome.actions_need_owner
    assert pack.follow_ups[-1].threshold_percent == 90
    assert pack.debrief is not None


def test_rules_with_no_limit_need_no_cite() -> None:
    data = changed(both(setter("hours", {"evening": "no_rule"}),
                        setter("not_at_home", {"note": "none"}),
                        setter("inside", {"upstairs": "no_rule", "bedroom": "no_rule"}),
                        setter("duration", {})))
    pack = parse(data)
    assert pack.hours.cite is None
    assert pack.not_at_home.text == ""
    assert pack.inside.upstairs_cite is None and pack.inside.bedroom_cite is None
    assert pack.duration.cite is None


def test_a_continue_answer_needs_no_cite_or_words_but_may_have_them() -> None:
    data = changed(setter("door.parent", {"then": ["continue"], "say": "Hello", "cite": CITE}))
    assert parse(data).door["parent"] == Rule((Then.CONTINUE,), "Hello", Cite(CITE["section"], ""))


# --- broken packs ----------------------------------------------------------------------------


def test_text_that_is_not_toml_is_refused() -> None:
    assert_refused("format = 1\nid = \n", "TOML", "valid TOML")


BROKEN: list[Any] = [
    # the format
    ("format-missing", deleter("format"), "format", "a format number (missing"),
    ("format-2", setter("format", 2), "format", "1 (the pack format this app reads), got 2"),
    ("format-text", setter("format", "1"), "format", "a format number, got '1'"),
    ("format-bool", setter("format", True), "format", "a format number, got True"),
    # required fields
    ("id-missing", deleter("id"), "id", "text (missing"),
    ("school-blank", setter("school", "  "), "school", "non-empty text"),
    ("table-missing", deleter("overdue"), "overdue", "a table (missing"),
    ("cite-missing", deleter("pair.cite"), "pair.cite", "a table (missing"),
    ("cite-section-missing", deleter("pair.cite.section"), "pair.cite.section", "text (missing"),
    ("checklist-ask-missing", deleter("checklist[2].ask"), "checklist[2].ask", "text (missing"),
    ("step-label-missing", deleter("authorisation.steps[0].label"),
     "authorisation.steps[0].label", "text (missing"),
    ("reminder-cite-missing", deleter("inside.reminders[1].cite"), "inside.reminders[1].cite",
     "a table (missing"),
    ("evening-missing", deleter("hours.evening"), "hours.evening", "text (missing"),
    ("grace-missing", deleter("overdue.grace_minutes"), "overdue.grace_minutes",
     "a whole number (missing"),
    ("min-staff-missing", deleter("pair.min_staff"), "pair.min_staff", "a whole number (missing"),
    # wrong types
    ("text-for-number", setter("overdue.grace_minutes", "15"), "overdue.grace_minutes",
     "a whole number, got '15'"),
    ("bool-for-number", setter("overdue.grace_minutes", True), "overdue.grace_minutes",
     "a whole number, got True"),
    ("fraction-for-number", setter("wait", {"no_answer_minutes": 7.5}), "wait.no_answer_minutes",
     "a whole number, got 7.5"),
    ("number-for-text", setter("school", 5), "school", "text, got 5"),
    ("number-for-bool", setter("pair.strict", 1), "pair.strict", "true or false, got 1"),
    ("text-for-bool", setter("sign_out.check_in_calls", "yes"), "sign_out.check_in_calls",
     "true or false, got 'yes'"),
    ("text-for-table", setter("contacts", "01902 558870"), "contacts", "a table, got '01902"),
    ("text-for-list", setter("sign_out.tell", "dsl"), "sign_out.tell",
     "a list of text, got 'dsl'"),
    ("table-for-list", setter("checklist", {"id": "x"}), "checklist", "a list of tables, got {"),
    ("text-for-cite", setter("pair.cite", "Before a visit"), "pair.cite", "a table, got 'Before"),
    ("list-of-tables-with-text", setter("after", ["hand_in_form", *uplands_data()["after"]]),
     "after[0]", "a table, got 'hand_in_form'"),
    ("list-of-text-with-number", setter("sign_out.tell", ["dsl", 3]), "sign_out.tell[1]",
     "non-empty text, got 3"),
    ("list-of-text-with-blank", setter("overdue.escalation", ["Phone", " "]),
     "overdue.escalation[1]", "non-empty text, got ' '"),
    # sign-out
    ("record-unknown", setter("sign_out.record", ["address", "adress"]), "sign_out.record[1]",
     "one of address, time, expected_return, arrival_estimate, departure_estimate, vehicle, "
     "emergency_number, mobile, got 'adress'"),
    ("check-duplicate", setter("sign_out.checks", [CHECK, CHECK]), "sign_out.checks[1].id",
     "a unique id, 'alarm' is repeated"),
    ("check-without-cite", setter("sign_out.checks", [{"id": "alarm", "text": "Charged"}]),
     "sign_out.checks[0].cite", "a table (missing"),
    ("check-without-text", setter("sign_out.checks", [{"id": "alarm", "cite": CITE}]),
     "sign_out.checks[0].text", "text (missing"),
    ("check-misspelt", setter("sign_out.checks", [CHECK | {"txt": "x"}]),
     "sign_out.checks[0].txt", "a known field"),
    ("check-not-a-table", setter("sign_out.checks", ["alarm"]), "sign_out.checks[0]",
     "a table, got 'alarm'"),
    # negative and too small numbers
    ("negative-grace", setter("overdue.grace_minutes", -1), "overdue.grace_minutes",
     "a number of zero or more, got -1"),
    ("negative-wait", setter("wait", {"late_parent_minutes": -5}), "wait.late_parent_minutes",
     "a number of zero or more, got -5"),
    ("no-staff", setter("pair.min_staff", 0), "pair.min_staff", "at least 1"),
    # misspellings
    ("misspelt-required", both(deleter("pair.min_staff"), setter("pair.min_staf", 2)),
     "pair.min_staff", "a whole number (missing; is 'min_staf' a misspelling?)"),
    ("unknown-top-level", setter("shool", "Uplands"), "shool", MISSPELT),
    ("unknown-in-table", setter("pair.strikt", True), "pair.strikt", MISSPELT),
    ("unknown-optional", setter("wait.no_answer_minute", 10), "wait.no_answer_minute",
     MISSPELT),
    ("unknown-in-cite", setter("door.sibling.cite.qoute", "x"), "door.sibling.cite.qoute",
     MISSPELT),
    ("unknown-in-list-item", setter("checklist[2].asks", "x"), "checklist[2].asks",
     MISSPELT),
    ("unknown-in-step", setter("authorisation.steps[0].role", "head"),
     "authorisation.steps[0].role", MISSPELT),
    ("unknown-in-contacts", setter("contacts.phone", "1"), "contacts.phone", "a known field"),
    ("unknown-in-empty-table", setter("cancel.reason", "x"), "cancel.reason", "a known field"),
    ("unknown-in-rule", setter("door.sibling.than", ["leave"]), "door.sibling.than",
     MISSPELT),
    ("unknown-in-answer", setter("checklist[1].answers.no.says", "x"),
     "checklist[1].answers.no.says", MISSPELT),
    ("unknown-in-reminder", setter("inside.reminders[0].txt", "x"), "inside.reminders[0].txt",
     MISSPELT),
    ("unknown-in-follow-up", setter("follow_ups[1].wen", "x"), "follow_ups[1].wen",
     MISSPELT),
    ("unknown-answerer", setter("door.parents", {"then": ["continue"]}), "door.parents",
     "one of parent, delegated_adult, unsupervised_child, sibling, unknown"),
    ("unknown-concern", setter("concerns.danger", {"then": ["continue"]}), "concerns.danger",
     "one of child_alone, immediate_danger"),
    ("unknown-answer", setter("checklist[0].answers.maybe", {"then": ["continue"]}),
     "checklist[0].answers.maybe", "one of yes, no"),
    # unknown choices
    ("then", setter("door.sibling.then", ["wait"]), "door.sibling.then[0]",
     "one of continue, show_id, wait_for_adult, put_right, do_not_enter, doorstep_only, "
     "reschedule, cancel, leave, contact_dsl, call_999, inform_agencies, call_school, "
     "got 'wait'"),
    ("if_yes", setter("risk.questions[3].if_yes", "stop"), "risk.questions[3].if_yes",
     "one of ok, mitigate, refuse, block, got 'stop'"),
    ("if_no", setter("risk.questions[0].if_no", "no"), "risk.questions[0].if_no", "got 'no'"),
    ("evening", setter("hours.evening", "sometimes"), "hours.evening",
     "one of never, needs_approval, advised_against, no_rule, got 'sometimes'"),
    ("upstairs", setter("inside.upstairs", "never"), "inside.upstairs",
     "one of no_rule, with_responsible_adult, pair_with_responsible_adult, got 'never'"),
    ("bedroom", setter("inside.bedroom", "doorway"), "inside.bedroom",
     "one of no_rule, never, doorway_adult_first, got 'doorway'"),
    ("note", setter("not_at_home.note", "always"), "not_at_home.note",
     "one of required, optional, none, got 'always'"),
    ("stage", setter("checklist[0].stage", "inside"), "checklist[0].stage",
     "one of arrival, door, got 'inside'"),
    ("applies_if", setter("checklist[0].applies_if", "sometimes"), "checklist[0].applies_if",
     "one of always, separate_cars, unannounced, announced, first_visit, got 'sometimes'"),
    ("after-when", setter("after[1].when", "later"), "after[1].when",
     "one of always, not_returning_directly, concern, not_at_home, cancelled, entered"),
    ("follow-up-when", setter("follow_ups[0].when", "later"), "follow_ups[0].when",
     "one of not_at_home, cancelled, actions, agreement_broken, attendance_below, got 'later'"),
    ("advance", setter("notice.advance", "never"), "notice.advance",
     "one of required, wherever_possible, got 'never'"),
    # duplicate ids
    ("duplicate-checklist", setter("checklist[1].id", "id_shown"), "checklist[1].id",
     "a unique id, 'id_shown' is repeated"),
    ("duplicate-question", setter("risk.questions[3].id", "visit_necessary"),
     "risk.questions[3].id", "a unique id, 'visit_necessary' is repeated"),
    ("duplicate-exception", setter("notice.exceptions[1].id", "absent_child_no_response"),
     "notice.exceptions[1].id", "a unique id"),
    ("duplicate-after", setter("after[3].id", "hand_in_form"), "after[3].id", "a unique id"),
    ("duplicate-follow-up", setter("follow_ups[1].id", "not_at_home"), "follow_ups[1].id",
     "a unique id"),
    ("duplicate-step", setter("authorisation.steps", uplands_data()["authorisation"]["steps"] * 2),
     "authorisation.steps[1].id", "a unique id, 'safeguarding_lead' is repeated"),
    ("missing-id-in-list", deleter("after[2].id"), "after[2].id", "text (missing"),
    # rules that change the visit say why and what to do
    ("no-then", deleter("door.sibling.then"), "door.sibling.then", "at least one consequence"),
    ("empty-then", setter("door.parent.then", []), "door.parent.then", "at least one consequence"),
    ("rule-without-cite", deleter("checklist[1].answers.no.cite"), "checklist[1].answers.no.cite",
     "a citation for any answer that changes the visit"),
    ("door-rule-without-cite", deleter("door.sibling.cite"), "door.sibling.cite",
     "a citation for any answer"),
    ("concern-without-cite", deleter("concerns.threatened.cite"), "concerns.threatened.cite",
     "a citation for any answer"),
    ("rule-without-say", deleter("door.sibling.say"), "door.sibling.say",
     "what to tell staff, for any answer that changes the visit"),
    ("rule-with-blank-say", setter("concerns.disclosure.say", "  "), "concerns.disclosure.say",
     "what to tell staff"),
    ("continue-and-more-without-cite", setter("door.parent.then", ["continue", "contact_dsl"]),
     "door.parent.cite", "a citation for any answer"),
    ("no-is-continue", setter("checklist[2].answers.no", {"then": ["continue"]}),
     "checklist[2].answers.no", "a consequence other than continue (else why ask?)"),
    ("yes-stops", setter("checklist[1].answers.yes", {
        "then": ["do_not_enter"], "say": "Do not go in.", "label": "Invited in",
        "cite": {"section": "During the Visit", "quote": "Do not enter the premises"}}),
     "checklist[1].answers.yes", "ask each question so that yes lets the visit go on"),
    ("timezone-unknown", setter("hours.timezone", "Mars/Olympus_Mons"), "hours.timezone",
     'an IANA time zone like "Europe/London"'),
    ("label-missing", deleter("checklist[1].answers.no.label"),
     "checklist[1].answers.no.label", "a short label of 1 to 40 characters"),
    ("label-long", setter("checklist[1].answers.yes.label", "x" * 41),
     "checklist[1].answers.yes.label", "a short label of 1 to 40 characters"),
    ("label-same", setter("checklist[1].answers.no.label", "Invited in by an adult"),
     "checklist[1].answers.no.label", "a label other than the yes answer's"),
    ("answers-missing", deleter("checklist[0].answers"), "checklist[0].answers",
     "a table (missing"),
    ("answer-yes-missing", deleter("checklist[0].answers.yes"), "checklist[0].answers.yes",
     "a table (missing"),
    ("answer-not-a-table", setter("checklist[0].answers.yes", "continue"),
     "checklist[0].answers.yes", "a table, got 'continue'"),
    # authorisation
    ("steps-empty", setter("authorisation.steps", []), "authorisation.steps",
     "at least one authorisation step"),
    ("steps-missing", setter("authorisation", {}), "authorisation.steps",
     "at least one authorisation step"),
    ("unannounced-steps-empty", setter("authorisation.unannounced_steps", []),
     "authorisation.unannounced_steps", "at least one step, or leave it out"),
    ("step-without-roles", deleter("authorisation.steps[0].roles"),
     "authorisation.steps[0].roles", "at least one role"),
    ("step-with-no-roles", setter("authorisation.steps[0].roles", []),
     "authorisation.steps[0].roles", "at least one role"),
    ("step-without-cite", deleter("authorisation.steps[0].cite"), "authorisation.steps[0].cite",
     "a table (missing"),
    # risk
    ("first-visit-min-unknown",
     setter("risk", {"levels": ["low", "high"], "first_visit_min": "medium",
                     "levels_cite": CITE}),
     "risk.first_visit_min", "one of the levels ['low', 'high']"),
    ("first-visit-min-without-levels", setter("risk.first_visit_min", "low"),
     "risk.first_visit_min", "one of the levels []"),
    ("levels-without-cite", setter("risk.levels", ["low", "high"]), "risk.levels_cite",
     "a citation for the risk levels"),
    ("mitigate-without-cite", setter("risk.questions[1].if_no", "mitigate"),
     "risk.mitigations_cite", "a citation, since an answer asks for mitigations"),
    # hours
    ("evening-rule-without-cite", deleter("hours.cite"), "hours.cite",
     "a citation for the evening rule"),
    ("advised-against-without-cite", setter("hours", {"evening": "advised_against"}),
     "hours.cite", "a citation for the evening rule"),
    ("approval-without-roles", setter("hours.evening", "needs_approval"), "hours.approval_roles",
     "who may approve an evening visit"),
    ("bad-clock", setter("hours.evening_from", "25:99"), "hours.evening_from",
     "a time of day like \"18:00\", got '25:99'"),
    ("bad-day-clock", setter("hours.day_from", "morning"), "hours.day_from",
     "a time of day like \"18:00\", got 'morning'"),
    # not at home
    ("required-note-without-text", deleter("not_at_home.text"), "not_at_home.text",
     "the note's text"),
    ("required-note-with-blank-text", setter("not_at_home.text", " "), "not_at_home.text",
     "the note's text"),
    ("optional-note-without-text", setter("not_at_home", {"note": "optional"}),
     "not_at_home.text", "the note's text"),
    # inside
    ("upstairs-without-cite", deleter("inside.upstairs_cite"), "inside.upstairs_cite",
     "a citation for the upstairs rule"),
    ("bedroom-without-cite", deleter("inside.bedroom_cite"), "inside.bedroom_cite",
     "a citation for the bedroom rule"),
    # door and concerns
    *[(f"door-{who}-continue", setter(f"door.{who}", {"then": ["continue"]}), f"door.{who}.then",
       "a consequence: staff may not carry on with anyone but a parent or a delegated adult")
      for who in WHO_ANSWERS[2:]],
    *[(f"door-without-{who}", deleter(f"door.{who}"), f"door.{who}", "a table (missing")
      for who in WHO_ANSWERS],
    *[(f"concerns-without-{kind}", deleter(f"concerns.{kind}"), f"concerns.{kind}",
       "a table (missing") for kind in CONCERN_KINDS],
    # duration
    ("normal-over-max",
     setter("duration", {"normal_minutes": 60, "max_minutes": 45, "cite": CITE}),
     "duration.normal_minutes", "no more than max_minutes (45)"),
    ("max-without-cite", setter("duration", {"max_minutes": 60}), "duration.cite",
     "a citation for the duration limits"),
    ("normal-without-cite", setter("duration", {"normal_minutes": 30}), "duration.cite",
     "a citation for the duration limits"),
    # overdue
    ("overdue-without-escalation", deleter("overdue.escalation"), "overdue.escalation",
     "the steps reception takes when a visit is overdue"),
    ("overdue-with-no-escalation", setter("overdue.escalation", []), "overdue.escalation",
     "the steps reception takes"),
    ("overdue-without-cite", deleter("overdue.cite"), "overdue.cite", "a table (missing"),
    # follow-ups
    ("attendance-without-threshold",
     setter("follow_ups[1]", {"id": "attendance", "when": "attendance_below", "text": "Check",
                              "period_months": 3, "cite": CITE}),
     "follow_ups[1].threshold_percent", "a number, for an attendance_below follow-up"),
    ("attendance-negative-threshold",
     setter("follow_ups[1]", {"id": "attendance", "when": "attendance_below", "text": "Check",
                              "threshold_percent": -90, "period_months": 3, "cite": CITE}),
     "follow_ups[1].threshold_percent", "a number of zero or more, got -90"),
    ("follow-up-without-cite", deleter("follow_ups[0].cite"), "follow_ups[0].cite",
     "a table (missing"),
]


@pytest.mark.parametrize(("change", "where", "expected"),
                         [pytest.param(*case[1:], id=case[0]) for case in BROKEN])
def test_a_broken_pack_is_refused_naming_the_file_the_field_and_what_was_expected(
    change: Callable[[Data], None], where: str, expected: str
) -> None:
    assert_refused(changed(change), where, expected)


def test_broken_pack_cases_have_distinct_names() -> None:
    names = [case[0] for case in BROKEN]
    assert len(names) == len(set(names))


def test_an_attendance_follow_up_without_a_period_names_period_months() -> None:
    data = changed(setter("follow_ups[1]", {"id": "attendance", "when": "attendance_below",
                                            "text": "Check", "threshold_percent": 90,
                                            "cite": CITE}))
    assert refused(data).where == "follow_ups[1].period_months"


@pytest.mark.parametrize(("path", "neighbour"), [("hours.evening", "evening_from"),
                                                 ("inside.upstairs", "upstairs_cite"),
                                                 ("inside.bedroom", "bedroom_cite")])
def test_a_missing_field_is_not_blamed_on_a_correct_neighbour(path: str, neighbour: str) -> None:
    error = refused(changed(deleter(path)))
    assert error.where == path
    assert neighbour not in str(error)


def test_a_misspelt_key_is_reported_even_when_everything_else_is_right() -> None:
    data = changed(setter("safe_phrase.phrse", "red folder"))
    error = refused(data)
    assert error.where == "safe_phrase.phrse"
    assert str(error) == f"school.toml: safe_phrase.phrse: expected {MISSPELT}"


# --- loading by id and by path ---------------------------------------------------------------


def test_the_shipped_packs_are_the_toml_files_in_the_policies_package() -> None:
    files = sorted(path.stem for path in UPLANDS.parent.glob("*.toml"))
    assert pack_ids() == tuple(files)
    assert "uplands-junior" in pack_ids()


def test_loading_by_id_and_by_path_give_the_same_pack(tmp_path: Path) -> None:
    copy_path = tmp_path / "our-school.toml"
    copy_path.write_text(UPLANDS.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_pack("uplands-junior") == load_pack(UPLANDS)
    assert load_pack(copy_path) == load_pack("uplands-junior")
    assert load_pack(str(copy_path)) == load_pack("uplands-junior")


def test_a_broken_pack_file_is_named_by_its_file_name(tmp_path: Path) -> None:
    path = tmp_path / "our-school.toml"
    path.write_text(to_toml(changed(deleter("pair.cite"))), encoding="utf-8")
    with pytest.raises(PackError) as error:
        load_pack(path)
    assert str(error.value).startswith("our-school.toml: pair.cite: expected a table")


def test_loading_an_unknown_pack_lists_the_known_ones() -> None:
    with pytest.raises(PackError) as error:
        load_pack("uplands-juniors")
    assert (error.value.source, error.value.where) == ("uplands-juniors.toml", "pack")
    assert error.value.expected == f"one of {', '.join(pack_ids())}"
    assert "uplands-junior" in str(error.value)


def test_loading_a_missing_file_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PackError) as error:
        load_pack(tmp_path / "nowhere.toml")
    assert (error.value.source, error.value.where) == ("nowhere.toml", "file")
    assert error.value.expected == "a readable file (No such file or directory)"


def test_loading_a_folder_says_it_cannot_be_read(tmp_path: Path) -> None:
    with pytest.raises(PackError, match="a readable file"):
        load_pack(tmp_path)


def test_a_pack_file_that_is_not_utf8_is_refused_as_a_pack_error(tmp_path: Path) -> None:
    path = tmp_path / "our-school.toml"
    path.write_bytes(UPLANDS.read_text(encoding="utf-8").encode("cp1252"))  # "—" is 0x97
    with pytest.raises(PackError, match=r"our-school\.toml"):
        load_pack(path)


def test_parse_pack_names_an_unnamed_pack() -> None:
    with pytest.raises(PackError, match=r"^<pack>: TOML: expected valid TOML"):
        parse_pack("[")


# --- the pack's own helpers ------------------------------------------------------------------


def test_a_checklist_item_is_found_by_id() -> None:
    pack = load_pack("uplands-junior")
    assert pack.item("feel_safe").answers["no"].then == (Then.LEAVE,)


def test_an_unknown_checklist_item_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="feel_safer"):
        load_pack("uplands-junior").item("feel_safer")


@pytest.mark.parametrize(
    ("then", "entry", "doorstep"),
    [
        ((Then.CONTINUE,), False, False),
        ((Then.CONTACT_DSL,), False, False),
        ((Then.CALL_999, Then.INFORM_AGENCIES, Then.CALL_SCHOOL), False, False),
        ((Then.DOORSTEP_ONLY,), True, False),
        ((Then.DO_NOT_ENTER, Then.CONTACT_DSL), True, False),
        ((Then.SHOW_ID,), True, True),
        ((Then.WAIT_FOR_ADULT,), True, True),
        ((Then.RESCHEDULE,), True, True),
        ((Then.CANCEL,), True, True),
        ((Then.CONTACT_DSL, Then.LEAVE), True, True),
    ],
)
def test_what_a_rule_stops(then: tuple[Then, ...], entry: bool, doorstep: bool) -> None:
    rule = Rule(then=then, say="", cite=None)
    assert (rule.blocks_entry, rule.blocks_doorstep) == (entry, doorstep)


def test_the_uplands_door_rules_keep_staff_out_unless_an_adult_answers() -> None:
    door = load_pack("uplands-junior").door
    assert {who for who, rule in door.items() if rule.blocks_entry} == {
        "unsupervised_child", "sibling", "unknown"}


def test_a_cite_without_a_quote_is_a_school_setting() -> None:
    assert Cite("School setting: overdue", "").is_school_setting
    assert not Cite("During the Visit", "Do not carry money.").is_school_setting
    pack = load_pack("uplands-junior")
    assert pack.overdue.cite.is_school_setting
    assert not pack.pair.cite.is_school_setting


def test_quoted_cites_keep_the_policy_words() -> None:
    data = changed(setter("inside.reminders[1].cite", QUOTED))
    assert parse(data).inside.reminders[1] == (
        "Explain that you may need to take notes during the meeting.", Cite(**QUOTED))


def test_a_time_of_day_may_be_written_as_toml_time_or_text() -> None:
    text = to_toml(uplands_data())
    assert 'evening_from = "18:00"' in text
    pack = parse_pack(text, source=SOURCE)
    native = parse_pack(text.replace('evening_from = "18:00"', "evening_from = 18:00:00"),
                        source=SOURCE)
    assert native.hours.evening_from == pack.hours.evening_from == time(18, 0)


def test_an_attendance_threshold_is_a_percentage() -> None:
    data = changed(setter("follow_ups[1]", {"id": "attendance", "when": "attendance_below",
                                            "text": "Check", "threshold_percent": 170,
                                            "period_months": 3, "cite": CITE}))
    assert_refused(data, "follow_ups[1].threshold_percent", "a percentage, got 170")


def test_the_phone_locks_after_the_packs_idle_time() -> None:
    assert parse(uplands_data()).lock_after_minutes == 5
    assert parse(changed(setter("device", {"lock_after_minutes": 2}))).lock_after_minutes == 2
    assert_refused(changed(setter("device", {"lock_after_minutes": 0})),
                   "device.lock_after_minutes", "between 1 and 60 minutes, got 0")


def test_every_doorstep_answer_in_every_pack_says_what_it_means() -> None:
    """Read in a second, under stress: each answer is labelled with what it means, and each
    question asks one thing, without a double negative."""
    from fieldapp.domain.policy import load_pack, pack_ids

    for pack_id in pack_ids():
        for item in load_pack(pack_id).checklist:
            labels = {item.answers[key].label.casefold() for key in ("yes", "no")}
            assert len(labels) == 2 and not labels & {"yes", "no"}, (pack_id, item.id)
            assert not any(word in item.ask.casefold() for word in (
                "is nobody", "are there no", "not contagious")), (pack_id, item.ask)
            assert ", and " not in item.ask or item.id == "id_shown", (pack_id, item.ask)
