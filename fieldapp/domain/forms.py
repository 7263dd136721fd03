"""From what staff typed and tapped to the command an action sends: the screens' one converter.

`what_now` offers each action with the fields the pack asks for (`guide.Field`); a screen
collects one raw value per field name — text as typed, a tick or yes/no as a bool, a choice's
value, a time as "HH:MM" on the school's clock, a list as lines, actions as (what, who, by
when) rows — and `command_for` builds the command, or raises FormError naming the field and
what to put right. Nothing here decides policy: `decide` does, on the command built.

Also here, because a screen needs it and it is nobody's policy: where the safe-phrase call
goes (`reception_refusal`, `call_addresses`).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, Final

from fieldapp.domain import commands as c
from fieldapp.domain.findings import Finding, Kind
from fieldapp.domain.guide import COMMANDS, Action, Field, WhatNow
from fieldapp.domain.policy import Pack

TIME: Final = re.compile(r"^\s*([01]?\d|2[0-3])[:.]?([0-5]\d)\s*$")
DAY: Final = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{2}|\d{4}))?$")
# A number to dial: digits, spaces and a leading +, as schools write them.
NUMBER: Final = re.compile(r"^\+?[0-9 ]{3,20}$")


class FormError(ValueError):
    """A field filled in wrongly or left empty: `field` names it, the message says what to do."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_time(text: str, now: datetime, zone: tzinfo) -> datetime:
    """"11:40" (or "1140", "11.40") today on the school's clock; a time already past by more
    than 12 hours is tomorrow's (a visit does not span a day the other way)."""
    match = TIME.match(text)
    if match is None:
        raise ValueError(f"{text.strip() or 'nothing'} is not a time: write it as 11:40")
    local = now.astimezone(zone)
    at = local.replace(hour=int(match[1]), minute=int(match[2]), second=0, microsecond=0)
    if at < local - timedelta(hours=12):
        at += timedelta(days=1)
    return at


def parse_day(text: str, today: date) -> date:
    """"2026-12-04", "4/12" or "4/12/2026" (days first, as UK schools write them); a day and
    month already past this year is next year's."""
    words = text.strip()
    try:
        return date.fromisoformat(words)
    except ValueError:
        pass
    match = DAY.match(words)
    if match is None:
        raise ValueError(f"{words or 'nothing'} is not a date: write it as 4/12 or 4/12/2026")
    day, month = int(match[1]), int(match[2])
    year = int(match[3]) if match[3] else today.year
    year += 2000 if year < 100 else 0
    try:
        found = date(year, month, day)
    except ValueError:
        raise ValueError(f"{words} is not a date: write it as 4/12 or 4/12/2026") from None
    if not match[3] and found < today:
        found = found.replace(year=year + 1)
    return found


def parse_when(text: str, now: datetime, zone: tzinfo) -> datetime:
    """A day and a time on the school's clock: "4/12 10:30", "2026-12-04 10:30", or a time
    alone ("10:30": today, or tomorrow once it is long past)."""
    day, _, at = text.strip().partition(" ")
    if not at.strip():
        return parse_time(day, now, zone)
    on = parse_day(day, now.astimezone(zone).date())
    at = at.strip()
    match = TIME.match(at)
    if match is None:
        raise ValueError(f"{at or 'nothing'} is not a time: write it as 4/12 10:30")
    return datetime(on.year, on.month, on.day, int(match[1]), int(match[2]), tzinfo=zone)


def lines(value: Any) -> tuple[str, ...]:
    """A list field: lines of text (or a sequence already), blank lines left out."""
    items = value.splitlines() if isinstance(value, str) else list(value or ())
    return tuple(str(item).strip() for item in items if str(item).strip())


@dataclass(frozen=True, slots=True)
class ActionRow:
    """One follow-up action on the outcome: what, who does it, and by when."""

    what: str
    who: str = ""
    by_when: str = ""


def command_for(action: Action, values: Mapping[str, Any], now: datetime,
                zone: tzinfo) -> c.Command:
    """The command `action` sends with `values` (by field name); FormError when a required
    field is empty or a value is not what its field asks for."""
    kwargs: dict[str, Any] = {}
    groups: dict[str, Any] = {"answers": {}, "told": [], "checks": []}
    for field in action.fields:
        raw = values.get(field.name)
        group, _, key = field.name.partition(".")
        if group in groups and key:
            _grouped(field, raw, key, groups[group])
            continue
        value = _value(field, raw, now, zone)
        if value is not None:
            kwargs[field.name] = value
    if action.name == "assess_risk":
        kwargs["answers"] = groups["answers"]
    if action.name == "sign_out":
        kwargs.update(told=tuple(groups["told"]), checks=tuple(groups["checks"]))
    try:
        return COMMANDS[action.name](**kwargs)  # type: ignore[no-any-return]
    except TypeError as error:  # a field the command does not take: a bug, said plainly
        raise FormError(action.name, f"this cannot be recorded: {error}") from None


def _grouped(field: Field, raw: Any, key: str, into: Any) -> None:
    if field.kind == "yes_no":  # a risk question: yes or no, both must be answered
        if not isinstance(raw, bool):
            raise FormError(field.name, f"Answer yes or no: {field.label}")
        into[key] = raw
    elif raw is True:  # a tick: who was told, a check made
        into.append(field.choices[0].value if field.choices else key)
    elif isinstance(raw, str) and raw in {choice.value for choice in field.choices}:
        into.append(raw)  # told one of several ("the DSL or the head")
    elif field.required:
        raise FormError(field.name, f"Tick this before going on: {field.label}")


def _value(field: Field, raw: Any, now: datetime, zone: tzinfo) -> Any:
    kind = field.kind
    if kind == "value":
        return field.value
    if kind == "new_id":
        return raw or secrets.token_hex(6)
    if kind in ("yes_no", "tick"):
        if raw is not True and field.required:
            raise FormError(field.name, f"Tick this before going on: {field.label}")
        return None if raw is None else bool(raw)
    if kind == "list":
        items = lines(raw)
        if not items and field.required:
            raise FormError(field.name, f"Fill this in: {field.label}")
        return items
    if kind == "staff":  # the console's: the members of staff, as the hub knows them
        if not raw:
            raise FormError(field.name, f"Choose who is visiting: {field.label}")
        return tuple(raw)
    if kind == "actions":
        return tuple(_action(row, now.astimezone(zone).date()) for row in raw or ()
                     if isinstance(row, ActionRow) and row.what.strip())
    empty = raw is None or (isinstance(raw, str) and not raw.strip())
    if empty:
        if field.required:
            raise FormError(field.name, f"Fill this in: {field.label}")
        return None if kind == "time" else ""  # an optional text or choice left empty
    if kind == "choice":
        if str(raw) not in {choice.value for choice in field.choices}:
            raise FormError(field.name, f"Choose one of the answers offered: {field.label}")
        return str(raw)
    if kind == "time":
        return _time(field, str(raw), now, zone)
    if kind == "when":
        try:
            return parse_when(str(raw), now, zone)
        except ValueError as error:
            raise FormError(field.name, f"{field.label}: {error}") from None
    if kind == "day":
        try:
            return parse_day(str(raw), now.astimezone(zone).date())
        except ValueError as error:
            raise FormError(field.name, f"{field.label}: {error}") from None
    return str(raw).strip()  # text


def _action(row: ActionRow, today: date) -> c.Action:
    due = None
    if row.by_when.strip():
        try:
            due = parse_day(row.by_when, today)
        except ValueError as error:
            raise FormError("actions", f"{row.what.strip()}: {error}") from None
    return c.Action(row.what.strip(), row.who.strip(), due)


def _time(field: Field, raw: str, now: datetime, zone: tzinfo) -> datetime:
    try:
        at = parse_time(raw, now, zone)
    except ValueError as error:
        raise FormError(field.name, f"{field.label}: {error}") from None
    if field.latest is not None and at > field.latest:
        raise FormError(field.name, f"{field.label}: the latest the policy allows is "
                        f"{field.latest.astimezone(zone):%H:%M}")
    return at


# --- the call to reception -------------------------------------------------------------------

def reception_refusal(pack: Pack) -> Finding | None:
    """Signing out needs the school's reception number on the phone: the safe-phrase call
    must have a number to dial. None when it has one."""
    if NUMBER.match(pack.contacts.reception_phone.strip()):
        return None
    return Finding(Kind.REFUSAL, "no_reception_number", "Sync with the school before you "
                   "sign out: this phone does not have reception's number, and the "
                   "safe-phrase call needs one.", "reception's number is not on this phone",
                   pack.school, "")


def with_reception(guide: WhatNow, pack: Pack) -> WhatNow:
    """`guide` with sign-out refused while the phone has no number for reception."""
    refusal = reception_refusal(pack)
    if refusal is None:
        return guide
    actions = tuple(replace(action, open=False, refusals=(*action.refusals, refusal))
                    if action.name == "sign_out" else action for action in guide.actions)
    return replace(guide, actions=actions)


def with_contacts(pack: Pack, contacts: Mapping[str, str] | None) -> Pack:
    """The pack with the numbers the school set at its hub (they win over the pack's)."""
    if not contacts:
        return pack
    numbers = {name: str(contacts[name]).strip() for name in ("reception_phone", "school_phone")
               if str(contacts.get(name) or "").strip()}
    return replace(pack, contacts=replace(pack.contacts, **numbers))


def call_addresses(number: str, reference: str) -> tuple[str, str]:
    """The `tel:` address to dial and the `sms:` address to fall back on, with the visit's
    reference in the message."""
    digits = "".join(ch for ch in number if ch.isdigit() or ch == "+")
    body = f"Help needed on home visit {reference}. Please call back."
    return f"tel:{digits}", f"sms:{digits}?body={body.replace(' ', '%20')}"

