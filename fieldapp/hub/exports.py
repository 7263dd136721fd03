"""What the school uploads to CPOMS and keeps in its tracker, made from a visit's events.

- The Home Visit Form and the Not-at-Home form, as PDF laid out like the forms in the
  schools' policies (Uplands Junior's appendices: the school's name and the form's title, the
  policy's opening line, then one row per question with its answer), followed by what the
  phones recorded, in order, with times on the school's clock.
- CSV of visits, and of the actions and follow-ups they left, one row each.

Pure: a visit's state and the school's pack in, bytes or text out. Who may export, and the
audit entry for each export, are the console service's (fieldapp.hub.console).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, tzinfo
from importlib import resources
from typing import Any, Final

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from fieldapp.domain.events import Event
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import VisitState, fold
from fieldapp.hub.directory import Contacts

FONT: Final = "DejaVu"  # any name a family may have: the core PDF fonts are Latin-1 only
NOT_RECORDED: Final = "not recorded"
VISIT_COLUMNS: Final = (
    "visit", "child reference", "child", "address", "purpose", "scheduled", "staff",
    "state", "signed out", "expected back", "arrived", "door answered by", "child seen",
    "outcome", "concerns", "alerts", "returned", "debriefed", "open follow-ups",
)
ACTION_COLUMNS: Final = ("visit", "child reference", "kind", "what", "who", "due", "done")


class ExportError(ValueError):
    """This visit has no such record to export (a Not-at-Home form for a visit where
    someone answered)."""


def _when(at: datetime | str | None, zone: tzinfo) -> str:
    if at is None or at == "":
        return ""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{moment.astimezone(zone):%a %d %b %Y %H:%M}"


def _staff(state: VisitState) -> str:
    return ", ".join(member.name for member in state.staff)


def _authorised(state: VisitState, zone: tzinfo) -> str:
    return "; ".join(f"{a.by} ({a.role.replace('_', ' ')}), {_when(a.at, zone)}"
                     for a in state.authorisations) or "not authorised"


def _outcome(state: VisitState) -> str:
    if state.outcome is None:
        return NOT_RECORDED
    detail = state.outcome.detail
    seen = "Child seen." if detail.get("child_seen") else "Child not seen."
    agreed = "".join(f"\nAgreed: {item}" for item in detail.get("agreements", ()))
    return f"{seen} {detail.get('summary', '')}".strip() + agreed


def _actions(state: VisitState) -> list[dict[str, str]]:
    """The outcome's actions, then the follow-ups: what, who, by when, done."""
    rows = [{"kind": "action", "what": str(a.get("what", "")), "who": str(a.get("by_whom", "")),
             "due": str(a.get("due") or ""), "done": ""}
            for a in (state.outcome.detail.get("actions", ()) if state.outcome else ())]
    rows += [{"kind": f.kind or "follow-up", "what": f.text, "who": "", "due": "",
              "done": "" if f.done_at is None else f.done_at.isoformat()}
             for f in state.follow_ups.values()]
    return rows


def _action_text(state: VisitState) -> str:
    said = []
    for row in _actions(state):
        who = f" ({row['who']})" if row["who"] else ""
        due = f", by {row['due']}" if row["due"] else ""
        done = ", done" if row["done"] else ""
        said.append(f"{row['what']}{who}{due}{done}")
    return "\n".join(said) or "none"


class _Form(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(format="A4")
        fonts = resources.files("fieldapp.hub") / "fonts"
        with resources.as_file(fonts / "DejaVuSans.ttf") as regular, \
                resources.as_file(fonts / "DejaVuSans-Bold.ttf") as bold:
            self.add_font(FONT, "", str(regular))
            self.add_font(FONT, "B", str(bold))
        self.set_title(title)
        self.set_creator("Home Visits hub")
        self.set_auto_page_break(True, margin=15)
        self.add_page()
        self.set_font(FONT, "B", 15)
        self.multi_cell(0, 8, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(3)

    def para(self, words: str, size: int = 10, bold: bool = False) -> None:
        self.set_font(FONT, "B" if bold else "", size)
        self.multi_cell(0, 5.5, words, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

    def rows(self, rows: Sequence[tuple[str, str]], widths: tuple[int, int] = (55, 125)
             ) -> None:
        """A two-column table: the form's question, then its answer."""
        self.set_font(FONT, "", 10)
        with self.table(col_widths=widths, first_row_as_headings=False, line_height=6,
                        text_align="LEFT") as table:
            for label, value in rows:
                row = table.row()
                row.cell(label)
                row.cell(value or NOT_RECORDED)
        self.ln(4)


def _identity(state: VisitState, pack: Pack) -> list[tuple[str, str]]:
    plan, zone = state.plan, pack.hours.zone
    return [
        ("Child's Name", str(plan.get("child_name") or plan.get("child_ref", ""))),
        ("Child's reference", str(plan.get("child_ref", ""))),
        ("Reason for Visit", str(plan.get("purpose", ""))),
        ("Date & Time of Visit", _when(plan.get("scheduled_at"), zone)),
        ("Home Address", str(plan.get("address", ""))),
        ("Telephone Number", str(plan.get("telephone", ""))),
        ("Staff Visiting", _staff(state)),
    ]


def _record(form: _Form, events: Iterable[Event], zone: tzinfo,
            names: Mapping[str, str]) -> None:
    """What the phones and the console recorded, in order."""
    form.para("What was recorded", 12, bold=True)
    rows = [(_when(e.at, zone), event_words(e, zone, names)) for e in events]
    form.rows(rows or [("", "nothing")], (45, 135))


# Left out of the printed record: the pair's safe phrase (a secret between them and
# reception), the phone's position, and what other rows of the form already say.
UNPRINTED: Final = frozenset({"safe_phrase", "phrase", "position", "staff", "pack_id", "id"})


def pack_words(pack: Pack) -> dict[str, str]:
    """The pack's own words for the ids events carry: checklist items, risk questions and
    sign-out checks ("id_shown" -> "Did they see your ID?")."""
    return {**{c.id: c.text for c in pack.sign_out.checks},
            **{q.id: q.text for q in pack.risk.questions},
            **{item.id: item.ask for item in pack.checklist}}


def event_words(event: Event, zone: tzinfo, names: Mapping[str, str] | None = None) -> str:
    """One event as a person reads it: what happened, then what was said about it (never
    the safe phrase or a position), times on the school's clock, and the pack's ids in its
    own words (`names`: pack_words)."""
    words = event.type.value.replace("_", " ")
    said = names or {}
    detail = ", ".join(f"{k.replace('_', ' ')}: {_short(v, zone, said)}"
                       for k, v in event.payload.items()
                       if k not in UNPRINTED and v not in ("", None, [], {}))
    return f"{words}" + (f" — {detail}" if detail else "")


def _short(value: Any, zone: tzinfo, names: Mapping[str, str]) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{names.get(k, k.replace('_', ' '))}: {_short(v, zone, names)}"
                         for k, v in value.items())
    if isinstance(value, list | tuple):
        return "; ".join(_short(v, zone, names) for v in value)
    if isinstance(value, str) and value in names:
        return names[value]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and "T" in value:
        try:
            return _when(value, zone)
        except ValueError:
            pass
    return str(value)


def visit_form(state: VisitState, events: Sequence[Event], pack: Pack) -> bytes:
    """The Home Visit Form of one visit, as PDF."""
    zone = pack.hours.zone
    form = _Form(f"{pack.school} – Home Visit Form")
    form.para("Before undertaking this home visit I have read the 'Home Visit Risk "
              "Assessment' and I am aware of the Home Visit policy and procedures.")
    concerns = "\n".join(f"{m.detail.get('kind', '').replace('_', ' ')}: "
                         f"{m.detail.get('note', '')}".strip(": ") for m in state.concerns)
    form.rows([
        *_identity(state, pack),
        ("Authorised by", _authorised(state, zone)),
        ("Outcome of home visit", _outcome(state)),
        ("Concerns raised", concerns or "none"),
        ("Action required", _action_text(state)),
        ("Debrief", "" if state.debriefed is None else
         f"with {state.debriefed.detail.get('with_whom', '')}, "
         f"{_when(state.debriefed.at, zone)}. {state.debriefed.detail.get('note', '')}".strip()),
    ])
    _record(form, events, zone, pack_words(pack))
    form.para(f"Visit {state.visit_id}. Made by the Home Visits hub from the records of the "
              "visiting staff's phones.", 8)
    return bytes(form.output())


def not_at_home_form(state: VisitState, pack: Pack, contacts: Contacts) -> bytes:
    """The Not-at-Home form of a visit where nobody answered, as PDF: the note left at the
    door with the school's number, then the visit's details."""
    if state.note_left is None and state.wait is None:
        raise ExportError("nobody was recorded as not at home on this visit: there is no "
                          "Not-at-Home form to export")
    zone = pack.hours.zone
    form = _Form(f"{pack.school} – Not at home")
    text = pack.not_at_home.text or ("Today you have received a visit from {school}, could "
                                     "you please contact school on {school_phone}.")
    form.para(text.format(school=pack.school, school_phone=contacts.school_phone,
                          reception_phone=contacts.reception_phone), 11)
    note = ("left at " + _when(state.note_left.at, zone) if state.note_left is not None
            else NOT_RECORDED)
    form.rows([
        *_identity(state, pack),
        ("Nobody answered at", _when(state.wait.at if state.wait else None, zone)),
        ("Note pushed through the letterbox", note),
    ])
    form.para("Report back in school or if you are not returning directly to school, "
              "telephone the school after the visit to say you have left the residence.")
    form.para(f"Visit {state.visit_id}. Made by the Home Visits hub.", 8)
    return bytes(form.output())


def visits_csv(states: Iterable[VisitState], pack: Pack) -> str:
    """One row per visit, for the school's tracker (spreadsheet-safe: a cell never starts
    with = + - @)."""
    zone, out = pack.hours.zone, io.StringIO()
    writer = csv.writer(out)
    writer.writerow(VISIT_COLUMNS)
    for s in states:
        plan = s.plan
        writer.writerow(_safe([
            s.visit_id, plan.get("child_ref", ""), plan.get("child_name", ""),
            plan.get("address", ""), plan.get("purpose", ""),
            _when(plan.get("scheduled_at"), zone), _staff(s), s.phase.value,
            _when(s.sign_out.at if s.sign_out else None, zone),
            _when(s.sign_out.detail.get("expected_return") if s.sign_out else None, zone),
            _when(s.arrived.at if s.arrived else None, zone), s.answered_by or "",
            "" if s.outcome is None else ("yes" if s.outcome.detail.get("child_seen")
                                          else "no"),
            "" if s.outcome is None else s.outcome.detail.get("summary", ""),
            len(s.concerns), len(s.alerts),
            _when(s.returned.at if s.returned else None, zone),
            _when(s.debriefed.at if s.debriefed else None, zone),
            sum(1 for f in s.follow_ups.values() if f.done_at is None),
        ]))
    return out.getvalue()


def actions_csv(states: Iterable[VisitState]) -> str:
    """One row per action an outcome agreed and per follow-up, with who and by when."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(ACTION_COLUMNS)
    for s in states:
        for row in _actions(s):
            writer.writerow(_safe([s.visit_id, s.plan.get("child_ref", ""), row["kind"],
                                   row["what"], row["who"], row["due"], row["done"]]))
    return out.getvalue()


def _safe(cells: list[Any]) -> list[str]:
    """A cell a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    said = [str(cell) for cell in cells]
    return [f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell
            for cell in said]


def enrolment_slip(school: str, name: str, code: str, expires_at: datetime,
                   fingerprint: str, zone: tzinfo) -> bytes:
    """A printable slip to enrol one phone: the one-time code to type, until when it works,
    and the hub key's fingerprint."""
    form = _Form(f"{school} – enrol a phone for {name}")
    form.para("Type this code on the phone's enrolment screen. It works once, for one phone, "
              f"until {_when(expires_at, zone)}.", 11)
    form.set_font(FONT, "B", 15)  # the whole code on one line
    form.multi_cell(0, 10, code, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    form.ln(4)
    form.para("The code ends with a check of the school hub's key: the phone refuses to "
              "enrol with any other hub. The hub's key fingerprint, for the school's IT "
              "administrator to compare with the hub's own:", 11)
    form.para(fingerprint, 14, bold=True)
    form.para("Shred this slip once the phone is enrolled.", 11)
    return bytes(form.output())


def subject_access_pdf(held: Mapping[str, Any], pack: Pack) -> bytes:
    """What `Retention.subject_access` found about one child, in words: each visit's form
    rows and record, its hold, and who read or did what with it."""
    zone = pack.hours.zone
    form = _Form(f"{pack.school} – records held about child {held['child_ref']}")
    form.para(f"Made {_when(held['generated_at'], zone)} by the Home Visits hub, for a "
              "subject access request. Left out: "
              f"{held['left_out']}.")
    if held["date_of_birth"]:
        form.para(f"Date of birth given to the hub: {held['date_of_birth']}.")
    names = pack_words(pack)
    for visit in held["visits"]:
        recorded = [Event.from_dict(event) for event in visit["events"]]
        state = fold(recorded)
        form.para(f"Visit {visit['visit_id']} ({visit['kind']} record)", 13, bold=True)
        hold = visit["hold"]
        form.rows([*_identity(state, pack), ("Outcome of home visit", _outcome(state)),
                   ("Held by the DSL", "" if hold is None else
                    f"{hold['by']}, {_when(hold['at'], zone)}: {hold['reason']}")])
        _record(form, recorded, zone, names)
        known = {event.id for event in recorded}
        for record in visit["sealed_records"]:
            more = [Event.from_dict(e) for e in record["events"] if e["id"] not in known]
            form.para(f"Sealed record {record['record_id']}, received "
                      f"{_when(record['received_at'], zone)}: "
                      + ("every event in it is above." if not more else
                         f"{len(more)} more events:"))
            if more:
                form.rows([(_when(e.at, zone), event_words(e, zone, names)) for e in more],
                          (45, 135))
    form.para("Who read or did what with these records", 12, bold=True)
    form.rows([(_when(entry["at"], zone), f"{entry['staff_id']} ({entry['role']}): "
                f"{entry['action'].replace('_', ' ')} {entry['subject']}")
               for entry in held["audit"]] or [("", "nothing")], (45, 135))
    return bytes(form.output())
