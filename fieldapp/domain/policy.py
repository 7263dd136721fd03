"""Policy packs: one school's home-visit policy as data, loaded and validated.

A pack is a TOML file (`fieldapp/policies/<id>.toml`, or any path for a school's own pack).
`load_pack` turns it into the frozen `Pack` below or raises `PackError` naming the file, the
field and what was expected. Every rule that can refuse, redirect or warn carries a `Cite`:
the policy section and the policy's own words. The format is documented in
docs/policy-packs.md.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import time, tzinfo
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

FORMAT: Final = 1


class PackError(ValueError):
    """A pack that cannot be used: names the file, the field and what was expected."""

    def __init__(self, source: str, where: str, expected: str) -> None:
        super().__init__(f"{source}: {where}: expected {expected}")
        self.source = source
        self.where = where
        self.expected = expected


class Then(StrEnum):
    """What an answer leads to; the engine turns these into instructions and gates."""

    CONTINUE = "continue"
    SHOW_ID = "show_id"  # put your ID right first
    WAIT_FOR_ADULT = "wait_for_adult"  # speak only to ask for the parent
    PUT_RIGHT = "put_right"  # put it right before going on (both of you here, parked safely)
    DO_NOT_ENTER = "do_not_enter"  # no visit with this person, inside or at the door
    DOORSTEP_ONLY = "doorstep_only"
    RESCHEDULE = "reschedule"
    CANCEL = "cancel"
    LEAVE = "leave"
    CONTACT_DSL = "contact_dsl"
    CALL_999 = "call_999"
    INFORM_AGENCIES = "inform_agencies"
    CALL_SCHOOL = "call_school"


# Consequences that keep staff out of the home, and those that also stop a doorstep visit.
BLOCKS_ENTRY: Final = frozenset({
    Then.SHOW_ID, Then.WAIT_FOR_ADULT, Then.PUT_RIGHT, Then.DO_NOT_ENTER, Then.DOORSTEP_ONLY,
    Then.RESCHEDULE, Then.CANCEL, Then.LEAVE,
})
BLOCKS_DOORSTEP: Final = frozenset({
    Then.SHOW_ID, Then.WAIT_FOR_ADULT, Then.PUT_RIGHT, Then.RESCHEDULE, Then.CANCEL, Then.LEAVE,
})


class RiskEffect(StrEnum):
    OK = "ok"
    MITIGATE = "mitigate"  # list what you will do to reduce the risk
    REFUSE = "refuse"  # the assessment cannot be completed with this answer
    BLOCK = "block"  # the visit must not take place


class Hours(StrEnum):
    NEVER = "never"  # no evening visits
    NEEDS_APPROVAL = "needs_approval"  # only with recorded approval
    ADVISED_AGAINST = "advised_against"  # a warning the pair must acknowledge
    NO_RULE = "no_rule"


class Upstairs(StrEnum):
    NO_RULE = "no_rule"
    WITH_RESPONSIBLE_ADULT = "with_responsible_adult"
    PAIR_WITH_RESPONSIBLE_ADULT = "pair_with_responsible_adult"


class Bedroom(StrEnum):
    NO_RULE = "no_rule"
    NEVER = "never"
    DOORWAY_ADULT_FIRST = "doorway_adult_first"


class NoteRule(StrEnum):
    REQUIRED = "required"
    OPTIONAL = "optional"
    NONE = "none"


SCHOOL_ZONE: Final = "Europe/London"  # the school's clock, unless its pack says otherwise
MAX_LABEL: Final = 40  # a checklist answer's label: a button's words
WHO_ANSWERS: Final = ("parent", "delegated_adult", "unsupervised_child", "sibling", "unknown")
CONCERN_KINDS: Final = ("child_alone", "immediate_danger", "disclosure", "staff_unsafe",
                        "threatened", "other")
CONDITIONS: Final = ("always", "separate_cars", "unannounced", "announced", "first_visit")
SIGN_OUT_RECORDS: Final = ("address", "time", "expected_return", "arrival_estimate",
                            "departure_estimate", "vehicle", "emergency_number", "mobile")
AFTER_WHEN: Final = ("always", "not_returning_directly", "concern", "not_at_home", "cancelled",
                     "entered")
FOLLOW_UP_WHEN: Final = ("not_at_home", "cancelled", "actions", "agreement_broken",
                         "attendance_below")


@dataclass(frozen=True, slots=True)
class Cite:
    section: str
    quote: str  # the policy's own words; empty only for a school setting the policy leaves open

    @property
    def is_school_setting(self) -> bool:
        return not self.quote


@dataclass(frozen=True, slots=True)
class Rule:
    """A consequence with what to tell staff and where the policy says so."""

    then: tuple[Then, ...]
    say: str
    cite: Cite | None
    label: str = ""  # a checklist answer's own words, e.g. "No ID" (never a bare "No")

    @property
    def blocks_entry(self) -> bool:
        return not BLOCKS_ENTRY.isdisjoint(self.then)

    @property
    def blocks_doorstep(self) -> bool:
        return not BLOCKS_DOORSTEP.isdisjoint(self.then)


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    label: str
    roles: tuple[str, ...]
    cite: Cite


@dataclass(frozen=True, slots=True)
class Authorisation:
    steps: tuple[Step, ...]
    unannounced_steps: tuple[Step, ...] | None  # replaces `steps` for unannounced visits


@dataclass(frozen=True, slots=True)
class Exception_:
    id: str
    label: str
    cite: Cite


@dataclass(frozen=True, slots=True)
class Notice:
    advance: str  # "required" | "wherever_possible"
    exceptions: tuple[Exception_, ...]
    cite: Cite
    entry_requires_appointment: Cite | None


@dataclass(frozen=True, slots=True)
class Pair:
    min_staff: int
    strict: bool  # False: "wherever possible", fewer staff needs a recorded reason
    cite: Cite
    safeguarding_trained: Cite | None  # at least one visitor safeguarding-trained
    knows_family: Cite | None  # at least one visitor works with the child or family
    same_car: Cite | None


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    if_yes: RiskEffect
    if_no: RiskEffect
    cite: Cite
    say: str = ""  # what to do when the answer refuses or blocks, if the policy says


@dataclass(frozen=True, slots=True)
class Risk:
    questions: tuple[Question, ...]
    levels: tuple[str, ...]
    first_visit_min: str | None
    mitigations_cite: Cite | None
    levels_cite: Cite | None


@dataclass(frozen=True, slots=True)
class HoursRule:
    evening: Hours
    evening_from: time
    day_from: time
    approval_roles: tuple[str, ...]
    cite: Cite | None
    zone: tzinfo = field(default_factory=lambda: ZoneInfo(SCHOOL_ZONE))  # the school's clock


@dataclass(frozen=True, slots=True)
class Check:
    """Something staff tick before leaving school: "The lone-worker alarm is charged"."""

    id: str
    text: str
    cite: Cite


@dataclass(frozen=True, slots=True)
class SignOut:
    tell: tuple[str, ...]  # who must be told; "dsl|slt" means either
    record: tuple[str, ...]
    remind_safe_phrase: bool
    check_in_calls: bool  # phone the office before arriving and when leaving
    checks: tuple[Check, ...]
    cite: Cite


@dataclass(frozen=True, slots=True)
class Wait:
    no_answer_minutes: int | None
    late_parent_minutes: int | None
    call_via_school: Cite | None
    cite: Cite | None  # for the no-answer limit
    late_cite: Cite | None  # for the late-parent limit, where the policy says it elsewhere

    def limit_cite(self, late: bool) -> Cite | None:
        return (self.late_cite or self.cite) if late else self.cite


@dataclass(frozen=True, slots=True)
class NotAtHome:
    note: NoteRule
    text: str
    cite: Cite | None


@dataclass(frozen=True, slots=True)
class ChecklistItem:
    id: str
    stage: str  # "arrival" (before knocking) | "door" (before entering)
    ask: str
    applies_if: str
    answers: Mapping[str, Rule]  # "yes" / "no"


@dataclass(frozen=True, slots=True)
class Inside:
    upstairs: Upstairs
    upstairs_cite: Cite | None
    bedroom: Bedroom
    bedroom_cite: Cite | None
    reminders: tuple[tuple[str, Cite], ...]
    parent_present: Cite | None = None  # staff are never alone with the pupil (Holy Cross)


@dataclass(frozen=True, slots=True)
class Duration:
    normal_minutes: int | None
    max_minutes: int | None
    longer_needs: str
    cite: Cite | None


@dataclass(frozen=True, slots=True)
class Overdue:
    grace_minutes: int
    escalation: tuple[str, ...]
    cite: Cite


@dataclass(frozen=True, slots=True)
class SafePhrase:
    phrase: str  # empty: the pair agrees their own when planning
    cite: Cite | None


@dataclass(frozen=True, slots=True)
class AfterStep:
    id: str
    text: str
    when: str
    cite: Cite


@dataclass(frozen=True, slots=True)
class FollowUpRule:
    id: str
    when: str
    text: str
    threshold_percent: int | None
    period_months: int | None
    cite: Cite


@dataclass(frozen=True, slots=True)
class OutcomeRule:
    actions_need_owner: bool
    record: tuple[str, ...]
    cite: Cite | None


@dataclass(frozen=True, slots=True)
class Contacts:
    reception_phone: str
    school_phone: str
    emergency: str


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    school: str
    policy: str
    source: str
    contacts: Contacts
    authorisation: Authorisation
    notice: Notice
    pair: Pair
    risk: Risk
    hours: HoursRule
    sign_out: SignOut
    wait: Wait
    not_at_home: NotAtHome
    door: Mapping[str, Rule]  # who answered the door -> what it means
    checklist: tuple[ChecklistItem, ...]
    inside: Inside
    concerns: Mapping[str, Rule]
    cancel_reason_to: str  # who receives a cancellation's reason in writing ("" if nobody)
    cancel_cite: Cite | None
    duration: Duration
    overdue: Overdue
    safe_phrase: SafePhrase
    outcome: OutcomeRule
    after: tuple[AfterStep, ...]
    follow_ups: tuple[FollowUpRule, ...]
    debrief: Cite | None
    lock_after_minutes: int = 5  # the phone locks after this long idle (a school setting)

    def item(self, item_id: str) -> ChecklistItem:
        for item in self.checklist:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


# --- loading -------------------------------------------------------------------------------

PACKAGE: Final = "fieldapp.policies"


def pack_ids() -> tuple[str, ...]:
    """The packs shipped with the app."""
    names = (entry.name for entry in resources.files(PACKAGE).iterdir())
    return tuple(sorted(name[:-5] for name in names if name.endswith(".toml")))


def load_pack(pack: str | Path) -> Pack:
    """Load a shipped pack by id (`"uplands-junior"`) or a school's own pack from a path."""
    if isinstance(pack, Path) or pack.endswith(".toml"):
        path = Path(pack)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise PackError(path.name, "file", f"a readable file ({error.strerror})") from None
        except UnicodeDecodeError:
            raise PackError(path.name, "file", "text saved as UTF-8") from None
        return parse_pack(text, source=path.name)
    return parse_pack(pack_text(pack), source=f"{pack}.toml")


def pack_text(pack_id: str) -> str:
    """A shipped pack's TOML, as a hub hands it to the phones it enrols."""
    if pack_id not in pack_ids():
        raise PackError(f"{pack_id}.toml", "pack", f"one of {', '.join(pack_ids())}")
    return resources.files(PACKAGE).joinpath(f"{pack_id}.toml").read_text(encoding="utf-8")


def parse_pack(text: str, source: str = "<pack>") -> Pack:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise PackError(source, "TOML", f"valid TOML ({error})") from None
    registry: list[_Reader] = []
    pack = _Reader(source, data, "", registry).pack()
    for reader in registry:
        reader.reject_unknown_keys()
    return pack


class _Reader:
    """Walks a table, remembering where it is, so every error names its field."""

    def __init__(
        self, source: str, data: Mapping[str, Any], path: str, registry: list[_Reader]
    ) -> None:
        self.source, self.data, self.path = source, data, path
        self.registry, self.read = registry, set[str]()
        registry.append(self)

    def child(self, data: Mapping[str, Any], key: str) -> _Reader:
        return _Reader(self.source, data, self._where(key), self.registry)

    def reject_unknown_keys(self) -> None:
        for key in self.data:
            if key not in self.read:
                raise self.fail(key, "a known field (is it misspelt?)")

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, expected: str) -> PackError:
        return PackError(self.source, self._where(key), expected)

    def _get(self, key: str, kind: type | tuple[type, ...], expected: str, default: Any) -> Any:
        self.read.add(key)
        if key not in self.data:
            if default is _REQUIRED:
                strays = [k for k in self.data if k not in _FIELD_NAMES]
                near = difflib.get_close_matches(key, strays, n=1)
                hint = f"; is '{near[0]}' a misspelling?" if near else ""
                raise self.fail(key, f"{expected} (missing{hint})")
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise self.fail(key, f"{expected}, got {value!r}")
        return value

    def text(self, key: str, default: Any = None) -> str:
        value: str = self._get(key, str, "text", _REQUIRED if default is None else default)
        if default is None and not value.strip():
            raise self.fail(key, "non-empty text")
        return value

    def flag(self, key: str, default: bool = False) -> bool:
        value: bool = self._get(key, bool, "true or false", default)
        return value

    def number(self, key: str, optional: bool = False) -> int | None:
        value: int | None = self._get(key, int, "a whole number", None if optional else _REQUIRED)
        if value is not None and value < 0:
            raise self.fail(key, f"a number of zero or more, got {value}")
        return value

    def texts(self, key: str, allowed: tuple[str, ...] = ()) -> tuple[str, ...]:
        values = self._get(key, list, "a list of text", [])
        for index, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise self.fail(f"{key}[{index}]", f"non-empty text, got {value!r}")
            if allowed and value not in allowed:
                raise self.fail(f"{key}[{index}]", f"one of {', '.join(allowed)}, got {value!r}")
        return tuple(values)

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in allowed:
            raise self.fail(key, f"one of {', '.join(allowed)}, got {value!r}")
        return value

    def table(self, key: str, optional: bool = False) -> _Reader | None:
        value = self._get(key, dict, "a table", None if optional else _REQUIRED)
        return None if value is None else self.child(value, key)

    def need(self, key: str) -> _Reader:
        table = self.table(key)
        assert table is not None
        return table

    def tables(self, key: str) -> list[_Reader]:
        values = self._get(key, list, "a list of tables", [])
        readers = []
        for index, value in enumerate(values):
            if not isinstance(value, dict):
                raise self.fail(f"{key}[{index}]", f"a table, got {value!r}")
            readers.append(self.child(value, f"{key}[{index}]"))
        return readers

    def clock(self, key: str, default: str) -> time:
        if isinstance(self.data.get(key), time):  # TOML's own time of day: 18:00:00
            self.read.add(key)
            clock: time = self.data[key]
            return clock
        value = self.text(key, default)
        try:
            return time.fromisoformat(value)
        except ValueError:
            raise self.fail(key, f"a time of day like \"18:00\", got {value!r}") from None

    def zone(self, key: str, default: str) -> tzinfo:
        name = self.text(key, default)
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(key, f"an IANA time zone like \"{SCHOOL_ZONE}\", got {name!r}"
                            ) from None

    def cite(self, key: str = "cite", optional: bool = False) -> Cite | None:
        table = self.table(key, optional=optional)
        if table is None:
            return None
        return Cite(section=table.text("section"), quote=table.text("quote", ""))

    def must_cite(self, key: str = "cite") -> Cite:
        cite = self.cite(key)
        assert cite is not None
        return cite

    def ids_unique(self, key: str, items: list[_Reader]) -> list[str]:
        seen: list[str] = []
        for index, item in enumerate(items):
            item_id = item.text("id")
            if item_id in seen:
                raise self.fail(f"{key}[{index}].id", f"a unique id, {item_id!r} is repeated")
            seen.append(item_id)
        return seen

    # --- sections ---

    def rule(self) -> Rule:
        thens = self.texts("then", tuple(t.value for t in Then))
        if not thens:
            raise self.fail("then", "at least one consequence")
        rule = Rule(then=tuple(Then(t) for t in thens), say=self.text("say", ""),
                    cite=self.cite(optional=True), label=self.text("label", ""))
        if rule.then != (Then.CONTINUE,):
            if rule.cite is None:
                raise self.fail("cite", "a citation for any answer that changes the visit")
            if not rule.say.strip():
                raise self.fail("say", "what to tell staff, for any answer that changes the visit")
        return rule

    def step(self) -> Step:
        roles = self.texts("roles")
        if not roles:
            raise self.fail("roles", "at least one role")
        return Step(id=self.text("id"), label=self.text("label"), roles=roles,
                    cite=self.must_cite())

    def steps(self, key: str) -> tuple[Step, ...]:
        items = self.tables(key)
        self.ids_unique(key, items)
        return tuple(item.step() for item in items)

    def pack(self) -> Pack:
        version = self._get("format", int, "a format number", _REQUIRED)
        if version != FORMAT:
            raise self.fail("format", f"{FORMAT} (the pack format this app reads), got {version}")
        contacts = self.table("contacts", optional=True) or self.child({}, "contacts")
        return Pack(
            id=self.text("id"),
            school=self.text("school"),
            policy=self.text("policy"),
            source=self.text("source"),
            contacts=Contacts(
                reception_phone=contacts.text("reception_phone", ""),
                school_phone=contacts.text("school_phone", ""),
                emergency=contacts.text("emergency", "999"),
            ),
            authorisation=self.need("authorisation").authorisation(),
            notice=self.need("notice").notice(),
            pair=self.need("pair").pair(),
            risk=self.need("risk").risk(),
            hours=self.need("hours").hours(),
            sign_out=self.need("sign_out").sign_out(),
            wait=self.need("wait").wait(),
            not_at_home=self.need("not_at_home").not_at_home(),
            door=self.need("door").door(),
            checklist=self.checklist(),
            inside=self.need("inside").inside(),
            concerns=self.need("concerns").keyed_rules(CONCERN_KINDS, require_all=True),
            cancel_reason_to=(cancel := self.need("cancel")).text("reason_to", ""),
            cancel_cite=cancel.cite(optional=True),
            duration=self.need("duration").duration(),
            overdue=self.need("overdue").overdue(),
            safe_phrase=self.need("safe_phrase").safe_phrase(),
            outcome=self.need("outcome").outcome(),
            after=self.after(),
            follow_ups=self.follow_ups(),
            debrief=self.cite("debrief", optional=True),
            lock_after_minutes=self.lock_after_minutes(),
        )

    def lock_after_minutes(self) -> int:
        device = self.table("device", optional=True)
        if device is None:
            return 5
        minutes = device.number("lock_after_minutes")
        assert minutes is not None
        if not 1 <= minutes <= 60:
            raise device.fail("lock_after_minutes", f"between 1 and 60 minutes, got {minutes}")
        return minutes

    def authorisation(self) -> Authorisation:
        steps = self.steps("steps")
        if not steps:
            raise self.fail("steps", "at least one authorisation step")
        unannounced = self.steps("unannounced_steps") if "unannounced_steps" in self.data else None
        if unannounced == ():
            raise self.fail("unannounced_steps", "at least one step, or leave it out")
        return Authorisation(steps=steps, unannounced_steps=unannounced)

    def notice(self) -> Notice:
        exceptions = self.tables("exceptions")
        self.ids_unique("exceptions", exceptions)
        return Notice(
            advance=self.choice("advance", ("required", "wherever_possible")),
            exceptions=tuple(
                Exception_(id=e.text("id"), label=e.text("label"), cite=e.must_cite())
                for e in exceptions
            ),
            cite=self.must_cite(),
            entry_requires_appointment=self.cite("entry_requires_appointment", optional=True),
        )

    def pair(self) -> Pair:
        min_staff = self.number("min_staff")
        assert min_staff is not None
        if min_staff < 1:
            raise self.fail("min_staff", "at least 1")
        return Pair(
            min_staff=min_staff,
            strict=self.flag("strict", True),
            cite=self.must_cite(),
            safeguarding_trained=self.cite("safeguarding_trained", optional=True),
            knows_family=self.cite("knows_family", optional=True),
            same_car=self.cite("same_car", optional=True),
        )

    def risk(self) -> Risk:
        items = self.tables("questions")
        self.ids_unique("questions", items)
        effects = tuple(e.value for e in RiskEffect)
        questions = tuple(
            Question(id=q.text("id"), text=q.text("text"),
                     if_yes=RiskEffect(q.choice("if_yes", effects, "ok")),
                     if_no=RiskEffect(q.choice("if_no", effects, "ok")), cite=q.must_cite(),
                     say=q.text("say", ""))
            for q in items
        )
        levels = self.texts("levels")
        first_visit_min = self.text("first_visit_min", "") or None
        if first_visit_min is not None and first_visit_min not in levels:
            raise self.fail("first_visit_min", f"one of the levels {list(levels)}")
        mitigations = self.cite("mitigations_cite", optional=True)
        if mitigations is None and any(
            RiskEffect.MITIGATE in (q.if_yes, q.if_no) for q in questions
        ):
            raise self.fail("mitigations_cite", "a citation, since an answer asks for mitigations")
        levels_cite = self.cite("levels_cite", optional=True)
        if levels and levels_cite is None:
            raise self.fail("levels_cite", "a citation for the risk levels")
        return Risk(questions=questions, levels=levels, first_visit_min=first_visit_min,
                    mitigations_cite=mitigations, levels_cite=levels_cite)

    def hours(self) -> HoursRule:
        evening = Hours(self.choice("evening", tuple(h.value for h in Hours)))
        cite = self.cite(optional=True)
        if evening is not Hours.NO_RULE and cite is None:
            raise self.fail("cite", "a citation for the evening rule")
        roles = self.texts("approval_roles")
        if evening is Hours.NEEDS_APPROVAL and not roles:
            raise self.fail("approval_roles", "who may approve an evening visit")
        return HoursRule(evening=evening, evening_from=self.clock("evening_from", "18:00"),
                         day_from=self.clock("day_from", "07:00"), approval_roles=roles, cite=cite,
                         zone=self.zone("timezone", SCHOOL_ZONE))

    def sign_out(self) -> SignOut:
        return SignOut(
            tell=self.texts("tell"),
            record=self.texts("record", SIGN_OUT_RECORDS),
            remind_safe_phrase=self.flag("remind_safe_phrase"),
            check_in_calls=self.flag("check_in_calls"),
            checks=self.checks(),
            cite=self.must_cite(),
        )

    def checks(self) -> tuple[Check, ...]:
        items = self.tables("checks")
        self.ids_unique("checks", items)
        return tuple(Check(id=i.text("id"), text=i.text("text"), cite=i.must_cite())
                     for i in items)

    def wait(self) -> Wait:
        wait = Wait(
            no_answer_minutes=self.number("no_answer_minutes", optional=True),
            late_parent_minutes=self.number("late_parent_minutes", optional=True),
            call_via_school=self.cite("call_via_school", optional=True),
            cite=self.cite(optional=True),
            late_cite=self.cite("late_cite", optional=True),
        )
        if wait.no_answer_minutes is not None and wait.cite is None:
            raise self.fail("cite", "a citation for the no-answer wait limit")
        if wait.late_parent_minutes is not None and wait.limit_cite(late=True) is None:
            raise self.fail("late_cite", "a citation for the late-parent wait limit")
        return wait

    def not_at_home(self) -> NotAtHome:
        note = NoteRule(self.choice("note", tuple(n.value for n in NoteRule)))
        text = self.text("text", "")
        if note is not NoteRule.NONE and not text.strip():
            raise self.fail("text", "the note's text")
        return NotAtHome(note=note, text=text, cite=self.cite(optional=True))

    def keyed_rules(self, allowed: tuple[str, ...], require_all: bool) -> Mapping[str, Rule]:
        for key in self.data:
            if key not in allowed:
                raise self.fail(key, f"one of {', '.join(allowed)}")
        wanted = allowed if require_all else tuple(key for key in allowed if key in self.data)
        return {key: self.need(key).rule() for key in wanted}

    def door(self) -> Mapping[str, Rule]:
        rules = self.keyed_rules(WHO_ANSWERS, require_all=True)
        for who in WHO_ANSWERS[2:]:  # a child, a sibling, a stranger: never plain "continue"
            if rules[who].then == (Then.CONTINUE,):
                raise self.fail(f"{who}.then", "a consequence: staff may not carry on with "
                                "anyone but a parent or a delegated adult")
        return rules

    def checklist(self) -> tuple[ChecklistItem, ...]:
        items = self.tables("checklist")
        self.ids_unique("checklist", items)
        result = []
        for item in items:
            answers = item.need("answers").keyed_rules(("yes", "no"), require_all=True)
            if answers["no"].then == (Then.CONTINUE,):
                raise item.fail("answers.no", "a consequence other than continue (else why ask?)")
            if answers["yes"].then != (Then.CONTINUE,):  # two phones' answers merge on "no"
                raise item.fail("answers.yes", "then = [\"continue\"]: ask each question so "
                                "that yes lets the visit go on, and put what stops it under no")
            for key, rule in answers.items():  # read in a second, under stress: say what it means
                if not 0 < len(rule.label.strip()) <= MAX_LABEL:
                    raise item.fail(f"answers.{key}.label", f"a short label of 1 to {MAX_LABEL} "
                                    "characters saying what the answer means, e.g. \"No ID\"")
            if answers["yes"].label.strip() == answers["no"].label.strip():
                raise item.fail("answers.no.label", "a label other than the yes answer's")
            result.append(ChecklistItem(
                id=item.text("id"), stage=item.choice("stage", ("arrival", "door")),
                ask=item.text("ask"), applies_if=item.choice("applies_if", CONDITIONS, "always"),
                answers=answers,
            ))
        return tuple(result)

    def inside(self) -> Inside:
        upstairs = Upstairs(self.choice("upstairs", tuple(u.value for u in Upstairs)))
        bedroom = Bedroom(self.choice("bedroom", tuple(b.value for b in Bedroom)))
        inside = Inside(
            upstairs=upstairs, upstairs_cite=self.cite("upstairs_cite", optional=True),
            bedroom=bedroom, bedroom_cite=self.cite("bedroom_cite", optional=True),
            reminders=tuple((r.text("text"), r.must_cite()) for r in self.tables("reminders")),
            parent_present=self.cite("parent_present_cite", optional=True),
        )
        if upstairs is not Upstairs.NO_RULE and inside.upstairs_cite is None:
            raise self.fail("upstairs_cite", "a citation for the upstairs rule")
        if bedroom is not Bedroom.NO_RULE and inside.bedroom_cite is None:
            raise self.fail("bedroom_cite", "a citation for the bedroom rule")
        return inside

    def duration(self) -> Duration:
        normal = self.number("normal_minutes", optional=True)
        maximum = self.number("max_minutes", optional=True)
        if normal is not None and maximum is not None and normal > maximum:
            raise self.fail("normal_minutes", f"no more than max_minutes ({maximum})")
        cite = self.cite(optional=True)
        if (normal is not None or maximum is not None) and cite is None:
            raise self.fail("cite", "a citation for the duration limits")
        return Duration(normal_minutes=normal, max_minutes=maximum,
                        longer_needs=self.text("longer_needs", ""), cite=cite)

    def overdue(self) -> Overdue:
        grace = self.number("grace_minutes")
        assert grace is not None
        escalation = self.texts("escalation")
        if not escalation:
            raise self.fail("escalation", "the steps reception takes when a visit is overdue")
        return Overdue(grace_minutes=grace, escalation=escalation, cite=self.must_cite())

    def safe_phrase(self) -> SafePhrase:
        return SafePhrase(phrase=self.text("phrase", ""), cite=self.cite(optional=True))

    def outcome(self) -> OutcomeRule:
        return OutcomeRule(actions_need_owner=self.flag("actions_need_owner"),
                           record=self.texts("record"), cite=self.cite(optional=True))

    def after(self) -> tuple[AfterStep, ...]:
        items = self.tables("after")
        self.ids_unique("after", items)
        return tuple(
            AfterStep(id=a.text("id"), text=a.text("text"),
                      when=a.choice("when", AFTER_WHEN, "always"), cite=a.must_cite())
            for a in items
        )

    def follow_ups(self) -> tuple[FollowUpRule, ...]:
        items = self.tables("follow_ups")
        self.ids_unique("follow_ups", items)
        rules = []
        for item in items:
            when = item.choice("when", FOLLOW_UP_WHEN)
            threshold = item.number("threshold_percent", optional=True)
            period = item.number("period_months", optional=True)
            if when == "attendance_below":
                for key, value in (("threshold_percent", threshold), ("period_months", period)):
                    if value is None:
                        raise item.fail(key, "a number, for an attendance_below follow-up")
                if threshold is not None and threshold > 100:
                    raise item.fail("threshold_percent", f"a percentage, got {threshold}")
            rules.append(FollowUpRule(id=item.text("id"), when=when, text=item.text("text"),
                                      threshold_percent=threshold, period_months=period,
                                      cite=item.must_cite()))
        return tuple(rules)


_REQUIRED: Final = object()
# Every field name the format knows, so a misspelling hint never points at a real field.
_FIELD_NAMES: Final = frozenset(
    f.name for cls in (Pack, Contacts, Authorisation, Step, Exception_, Notice, Pair, Question,
                       Risk, HoursRule, SignOut, Check, Wait, NotAtHome, ChecklistItem, Inside,
                       Duration, Overdue, SafePhrase, OutcomeRule, AfterStep, FollowUpRule, Rule,
                       Cite)
    for f in fields(cls)
) | {"format", "steps", "unannounced_steps", "exceptions", "questions", "levels_cite",
     "mitigations_cite", "checklist", "answers", "reminders", "cancel", "reason_to", "text",
     "then", "say", "ask", "when", "device"}
