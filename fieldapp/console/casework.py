"""The DSL's screens: the visits (concerns first), one visit's file with what may be
recorded on it now, planning a visit, a child's chronology, and the exports for CPOMS.

Every field is asked for with the phone's own control for it (fieldapp.screens.form) and
turned into a command by the one converter (fieldapp.domain.forms), through the console
service: the same rules, whichever screen a change comes from. A member of staff signed in
sees their own visits here, read-only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo
from functools import partial
from typing import Any, Final, cast

import flet as ft

from fieldapp.console.records import ChildRecords, HoldCard
from fieldapp.console.shell import (
    ConsoleShell,
    card,
    download,
    said,
    screen,
    use_shell,
    while_signed_in,
)
from fieldapp.domain.findings import Finding, Kind
from fieldapp.domain.guide import Action, Field
from fieldapp.hub.console import NEEDS_ATTENTION, Recorded, VisitSummary, VisitView, concerns_first
from fieldapp.hub.directory import StaffMember
from fieldapp.hub.errors import HubError
from fieldapp.hub.exports import event_words, pack_words
from fieldapp.screens.form import field_control
from fieldapp.screens.look import (
    CAUTION,
    GAP,
    GO,
    INFO,
    ON_COLOUR,
    STOP,
    TITLE,
    back,
    banner,
    button,
    text,
)
from fieldapp.screens.visit import FindingCard
from fieldapp.screens.words import action_words

WAITING: Final = ("planned", "authorised")  # before sign-out: may still need a sign-off
WEEK: Final = timedelta(days=7)
PHASE_WORDS: Final = {
    "new": "Not planned", "planned": "Planned", "authorised": "Signed off",
    "signed_out": "Out: on the way", "arrived": "Out: arrived", "waiting": "Out: at the door",
    "at_door": "Out: at the door", "inside": "Out: inside", "doorstep": "Out: on the doorstep",
    "not_at_home": "Out: not at home", "called_off": "Out: called off",
    "left": "Out: on the way back", "returned": "Back", "debriefed": "Debriefed",
    "cancelled": "Cancelled", NEEDS_ATTENTION: "Needs attention",
}


def _when(at: str | datetime | None, zone: tzinfo, fmt: str = "%a %d %b %H:%M") -> str:
    if not at:
        return ""
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{moment.astimezone(zone):{fmt}}"


def refusals_of(refused: HubError) -> tuple[Finding, ...]:
    """What the policy said, where the service refused a change with its findings."""
    return tuple(Finding(Kind.REFUSAL, f["code"], f["say"], f["because"], f["policy"],
                         f["quote"]) for f in refused.extra.get("findings") or ()
                 if f["code"] != "field")


# --- the visits --------------------------------------------------------------------------------

@ft.component
@while_signed_in
def VisitList() -> ft.Control:
    shell = use_shell()
    user = shell.signed_in()
    dsl = shell.service.may(user, "plan")
    zone = shell.zone()
    loads, reload = ft.use_state(0)
    results, set_results = ft.use_state(cast(tuple[str, ...], ()))
    error, set_error = ft.use_state("")
    listed = ft.use_memo(lambda: shell.call(shell.service.visits), [loads])
    if isinstance(listed, HubError):
        return text(str(listed), colour=STOP)
    visits = concerns_first(listed)
    now = shell.now()
    waiting = [v for v in visits if v.phase in WAITING and v.scheduled_at
               and datetime.fromisoformat(v.scheduled_at) < now + WEEK]

    def sign_off_week() -> None:
        done = shell.call(lambda u: shell.service.authorise_all(u, [v.visit_id for v in waiting]))
        if isinstance(done, HubError):
            set_error(str(done))
            return
        names = {v.visit_id: v.child_name or v.child_ref for v in waiting}
        set_results(tuple(f"{names[i]}: " + ("signed off" if isinstance(r, Recorded)
                                             else f"not signed off: {r}")
                          for i, r in done.items()))
        reload(loads + 1)

    async def export(what: str) -> None:
        data = shell.call(lambda u: shell.service.export_csv(u, what))
        if isinstance(data, HubError):
            set_error(str(data))
            return
        await download(f"{what}-{now.astimezone(zone):%Y-%m-%d}.csv", data.encode())

    body: list[ft.Control] = [text("Visits", TITLE, ft.FontWeight.BOLD)]
    if dsl:
        body.append(ft.Row([
            ft.Container(width=330, content=button(
                f"Sign off this week's list ({len(waiting)})", sign_off_week, colour=INFO,
                ident="sign-off-week", disabled=not waiting,
                says=f"Give every sign-off you may to the {len(waiting)} visits waiting in "
                     "the next seven days")),
            ft.Container(width=250, content=button(
                "Visits as CSV", partial(export, "visits"), filled=False, colour=INFO,
                ident="csv-visits", icon=ft.Icons.DOWNLOAD)),
            ft.Container(width=250, content=button(
                "Actions as CSV", partial(export, "actions"), filled=False, colour=INFO,
                ident="csv-actions", icon=ft.Icons.DOWNLOAD)),
        ], wrap=True, spacing=GAP))
    body += [banner(line, GO if line.endswith(": signed off") else STOP, ft.Icons.INFO_OUTLINE,
                    f"result-{n}") for n, line in enumerate(results)]
    if error:
        body.append(banner(error, STOP, ft.Icons.ERROR_OUTLINE, "error"))
    if not visits:
        body.append(text("No visits yet." + (" Plan one with “Plan a visit”." if dsl else "")))
    body += [_visit_card(shell, v, zone) for v in visits]
    return screen(body)


def _visit_card(shell: ConsoleShell, v: VisitSummary, zone: tzinfo) -> ft.Control:
    colour = STOP if v.concerns else CAUTION if v.phase == NEEDS_ATTENTION else None
    ink = ON_COLOUR if colour else None
    marks = [f"{v.concerns} concern{'s' if v.concerns != 1 else ''}" if v.concerns else "",
             "outcome recorded" if v.outcome else "",
             f"{v.open_follow_ups} follow-up{'s' if v.open_follow_ups != 1 else ''} open"
             if v.open_follow_ups else ""]
    who = v.child_name or v.child_ref or v.visit_id
    return card([
        ft.Row([text(f"{who} ({v.child_ref})" if v.child_name else who, 18,
                     ft.FontWeight.BOLD, ink),
                text(PHASE_WORDS.get(v.phase, v.phase), 16, ft.FontWeight.BOLD, ink)],
               alignment=ft.MainAxisAlignment.SPACE_BETWEEN, wrap=True),
        text(f"{_when(v.scheduled_at, zone)} · {v.address}", colour=ink),
        text(", ".join(v.staff), colour=ink),
        text(" · ".join(m for m in marks if m), colour=ink, weight=ft.FontWeight.BOLD),
    ], colour, f"visit-{v.visit_id}", lambda: shell.go("visit", v.visit_id),
        f"{who}: {PHASE_WORDS.get(v.phase, v.phase)}")


# --- one visit ---------------------------------------------------------------------------------

@ft.component
@while_signed_in
def VisitFile() -> ft.Control:
    shell = use_shell()
    user = shell.signed_in()
    visit_id = shell.subject
    zone = shell.zone()
    loads, reload = ft.use_state(0)
    opened, set_opened = ft.use_state("")  # the casework form showing
    error, set_error = ft.use_state("")
    found = ft.use_memo(lambda: shell.call(lambda u: shell.service.visit(u, visit_id)),
                        [visit_id, loads])
    dsl = shell.service.may(user, "plan")
    actions = shell.call(lambda u: shell.service.casework(u, visit_id)) if dsl else ()
    if isinstance(found, HubError) or isinstance(actions, HubError):
        return ft.Column([back("Back to the visits", lambda: shell.go("visits")),
                          text(said(found) or said(actions), colour=STOP)])
    view: VisitView = found
    s = view.summary

    def recorded(name: str) -> None:
        set_opened("")
        shell.notice = f"{action_words(name)}: recorded"
        reload(loads + 1)

    async def export(form: str) -> None:
        data = shell.call(lambda u: shell.service.export(u, visit_id, form))
        if isinstance(data, HubError):
            set_error(str(data))
            return
        await download(f"{form.replace('_', '-')}-form-{s.child_ref or visit_id}.pdf", data)

    body: list[ft.Control] = [
        ft.Row([back("Back to the visits", lambda: shell.go("visits")),
                text(f"{s.child_name or s.child_ref} · {s.child_ref}", TITLE,
                     ft.FontWeight.BOLD)]),
        text(f"{PHASE_WORDS.get(s.phase, s.phase)} · {_when(s.scheduled_at, zone)} · "
             f"{s.address}", 18),
        text(f"Visiting: {', '.join(s.staff)}"),
    ]
    if shell.notice:
        body.append(banner(shell.notice, GO, ft.Icons.CHECK, "notice"))
    if error:
        body.append(banner(error, STOP, ft.Icons.ERROR_OUTLINE, "error"))
    body += [banner(f"Set aside: {why}", CAUTION, ft.Icons.WARNING, f"set-aside-{n}")
             for n, (_, why) in enumerate(view.set_aside)]
    body += _concerns(view, zone) + _alerts(view, zone) + _outcome(view) + _follow_ups(view)
    if dsl:
        body.append(ft.Row([
            ft.Container(width=280, content=button(
                "Home Visit Form (PDF)", partial(export, "visit"), filled=False, colour=INFO,
                ident="pdf-visit", icon=ft.Icons.DOWNLOAD)),
            ft.Container(width=280, content=button(
                "Not-at-Home form (PDF)", partial(export, "not_at_home"), filled=False,
                colour=INFO, ident="pdf-not-at-home", icon=ft.Icons.DOWNLOAD)),
            ft.Container(width=280, content=button(
                "All visits to this child", lambda: shell.go("child", s.child_ref),
                filled=False, colour=INFO, ident="chronology")),
        ], wrap=True, spacing=GAP))
        body.append(HoldCard(visit_id))  # the DSL's, as holds and erasure are
        body.append(text("Record", TITLE, ft.FontWeight.BOLD))
        for action in actions:
            if opened == action.name:
                body.append(CaseForm(visit_id, action, zone, recorded, lambda: set_opened("")))
            else:
                body.append(_action_button(action, set_opened))
    body.append(text("What was recorded", TITLE, ft.FontWeight.BOLD))
    names = pack_words(shell.service.pack(user))
    body += [text(f"{_when(e.at, zone)}  {event_words(e, zone, names)}", key=e.id)
             for e in view.events]
    return screen(body)


def _action_button(action: Action, open_form: Callable[[str], None]) -> ft.Control:
    if action.open:
        return ft.Container(width=420, content=button(
            action_words(action.name), lambda: open_form(action.name), colour=INFO, filled=False,
            ident=f"open-{action.name}"))
    return ft.Column([text(f"{action_words(action.name)}: not yet", weight=ft.FontWeight.BOLD),
                      *[FindingCard(r, ident=f"refused-{action.name}-{r.code}")
                        for r in action.refusals]], spacing=4)


def _concerns(view: VisitView, zone: tzinfo) -> list[ft.Control]:
    return [card([text(f"Concern: {c.get('kind', '').replace('_', ' ')}", 18,
                       ft.FontWeight.BOLD, ON_COLOUR),
                  text(str(c.get("note", "")), colour=ON_COLOUR)], STOP, f"concern-{n}")
            for n, c in enumerate(view.concerns)]


def _alerts(view: VisitView, zone: tzinfo) -> list[ft.Control]:
    out = []
    for n, alert in enumerate(view.alerts):
        handled = alert.get("acknowledged")
        by = (f"acknowledged by {handled['by']} ({handled['role']}) at "
              f"{_when(handled['at'], zone, '%H:%M')}" if handled else "NOT ACKNOWLEDGED")
        out.append(card([text(f"Alert: {str(alert.get('type', '')).replace('_', ' ')} at "
                              f"{_when(alert.get('at'), zone, '%H:%M')}", 18,
                              ft.FontWeight.BOLD, ON_COLOUR),
                         text(by, colour=ON_COLOUR)], STOP if not handled else CAUTION,
                        f"alert-{n}"))
    return out


def _outcome(view: VisitView) -> list[ft.Control]:
    if view.outcome is None:
        return []
    o = view.outcome
    lines: list[ft.Control] = [
        text("Outcome", 18, ft.FontWeight.BOLD),
        text("Child seen" if o.get("child_seen") else "Child NOT seen", weight=ft.FontWeight.BOLD),
        text(str(o.get("summary", ""))),
        *[text(f"Agreed: {a}") for a in o.get("agreements", ())],
        *[text(f"Action: {a.get('what')} — {a.get('by_whom') or 'nobody named'}"
               + (f", by {a['due']}" if a.get("due") else "")) for a in o.get("actions", ())],
    ]
    return [card(lines, ident="outcome")]


def _follow_ups(view: VisitView) -> list[ft.Control]:
    marks = [e for e in view.events if e.type.value == "follow_up_created"]
    done = {str(e.payload.get("follow_up_id")) for e in view.events
            if e.type.value == "follow_up_done"}
    lines: list[ft.Control] = []
    for e in marks:
        p = e.payload
        state = "done" if p.get("follow_up_id") in done else "open"
        lines.append(text(f"{p.get('text')} — {p.get('owner') or 'nobody named'}"
                          + (f", by {p['due']}" if p.get("due") else "") + f" ({state})"))
    return [card([text("Follow-ups", 18, ft.FontWeight.BOLD), *lines], ident="follow-ups")] \
        if lines else []


@ft.component
@while_signed_in
def CaseForm(visit_id: str, action: Action, zone: tzinfo, done: Callable[[str], None],
             cancel: Callable[[], None]) -> ft.Control:
    """One action's fields, and the button that records it."""
    shell = use_shell()
    kept: Any = ft.use_ref(dict)
    drawn, redraw = ft.use_state(0)
    problem, set_problem = ft.use_state("")
    refusals, set_refusals = ft.use_state(cast(tuple[Finding, ...], ()))
    values: dict[str, Any] = kept.current

    def put(name: str, value: Any, draw: bool = True) -> None:
        values[name] = value
        if draw:
            redraw(drawn + 1)

    def send() -> None:
        result = shell.call(lambda u: shell.service.act(u, visit_id, action.name, values))
        if isinstance(result, HubError):
            found = refusals_of(result)
            set_refusals(found)
            set_problem("" if found else str(result))
            return
        done(action.name)

    fields = [f for f in action.fields if f.kind not in ("value", "new_id", "staff")
              and f.name != "by"]
    return card([
        text(action_words(action.name), 18, ft.FontWeight.BOLD),
        *[FindingCard(g) for g in action.guidance],
        *[field_control(f, values, put, zone) for f in fields],
        *([banner(problem, STOP, ft.Icons.ERROR_OUTLINE, "problem")] if problem else []),
        *[FindingCard(r, ident=f"refusal-{r.code}") for r in refusals],
        ft.Row([ft.Container(width=260, content=button(
                    action_words(action.name), send, colour=STOP if action.name == "cancel"
                    else GO, ident="send")),
                ft.Container(width=160, content=button("Not now", cancel, filled=False,
                                                       ident="close"))], spacing=GAP),
    ], ident=f"form-{action.name}")


# --- planning -----------------------------------------------------------------------------------

@ft.component
@while_signed_in
def PlanVisit() -> ft.Control:
    shell = use_shell()
    zone = shell.zone()
    kept: Any = ft.use_ref(dict)
    drawn, redraw = ft.use_state(0)
    problem, set_problem = ft.use_state("")
    refusals, set_refusals = ft.use_state(cast(tuple[Finding, ...], ()))
    form = shell.call(shell.service.plan_form)
    staff = shell.call(shell.service.staff)
    if isinstance(form, HubError) or isinstance(staff, HubError):
        return text(said(form) or said(staff), colour=STOP)
    values: dict[str, Any] = kept.current
    chosen: list[str] = values.setdefault("staff", [])

    def put(name: str, value: Any, draw: bool = True) -> None:
        values[name] = value
        if draw:
            redraw(drawn + 1)

    def toggle(staff_id: str) -> None:
        put("staff", [i for i in chosen if i != staff_id] if staff_id in chosen
            else [*chosen, staff_id])

    def send() -> None:
        result = shell.call(lambda u: shell.service.plan(u, values))
        if isinstance(result, HubError):
            found = refusals_of(result)
            set_refusals(found)
            set_problem("" if found else str(result))
            return
        visit_id, _ = result
        kept.current = {}
        shell.go("visit", visit_id, "Visit planned: now the risk assessment")

    body: list[ft.Control] = [text("Plan a visit", TITLE, ft.FontWeight.BOLD)]
    for f in form.fields:
        if f.kind == "staff":
            body.append(_pair(f, staff, chosen, toggle))
        else:
            body.append(field_control(f, values, put, zone))
    if problem:
        body.append(banner(problem, STOP, ft.Icons.ERROR_OUTLINE, "problem"))
    body += [FindingCard(r, ident=f"refusal-{r.code}") for r in refusals]
    body.append(ft.Container(width=320, content=button("Plan the visit", send, colour=GO,
                                                       ident="send")))
    return ft.Column(body, spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO, expand=True,
                     width=720)


def _pair(f: Field, staff: list[StaffMember], chosen: list[str],
          toggle: Callable[[str], None]) -> ft.Control:
    """Who is visiting: one tick per member of staff, with their training and mobile."""
    ticks: list[ft.Control] = [text(f.label, 18, ft.FontWeight.BOLD)]
    for m in staff:
        on = m.staff_id in chosen
        about = ", ".join(x for x in ("safeguarding trained" if m.safeguarding_trained else
                                      "not safeguarding trained", m.mobile) if x)
        ticks.append(ft.Semantics(
            identifier=f"staff-{m.staff_id}", checked=on, container=True,
            label=f"{m.name} ({about})", content=ft.Container(
                on_click=lambda _=None, i=m.staff_id: toggle(i), padding=ft.Padding(4, 6, 4, 6),
                content=ft.Row([ft.Icon(ft.Icons.CHECK_BOX if on else
                                        ft.Icons.CHECK_BOX_OUTLINE_BLANK, color=INFO),
                                ft.Text(f"{m.name} · {about}", size=16)], spacing=12))))
    return ft.Column(ticks, spacing=2)


# --- a child's chronology -----------------------------------------------------------------------

@ft.component
@while_signed_in
def Chronology() -> ft.Control:
    shell = use_shell()
    child_ref = shell.subject
    zone = shell.zone()
    found = ft.use_memo(lambda: shell.call(lambda u: shell.service.chronology(u, child_ref)),
                        [child_ref])
    body: list[ft.Control] = [ft.Row([back("Back to the visits", lambda: shell.go("visits")),
                                      text(f"Chronology: {child_ref}", TITLE,
                                           ft.FontWeight.BOLD)])]
    if isinstance(found, HubError):
        return ft.Column([*body, text(str(found), colour=STOP)])
    body.append(ChildRecords(child_ref))  # only the DSL reads a chronology, and erases
    for view in found:
        s = view.summary
        lines: list[ft.Control] = [
            text(f"{_when(s.scheduled_at, zone, '%d %b %Y %H:%M')} · "
                 f"{PHASE_WORDS.get(s.phase, s.phase)}", 18, ft.FontWeight.BOLD),
            text(f"{s.address} · {', '.join(s.staff)}"),
        ]
        lines += [text(f"Concern: {c.get('kind', '').replace('_', ' ')}: {c.get('note', '')}",
                       colour=STOP, weight=ft.FontWeight.BOLD) for c in view.concerns]
        if view.outcome is not None:
            seen = "child seen" if view.outcome.get("child_seen") else "child NOT seen"
            lines.append(text(f"Outcome ({seen}): {view.outcome.get('summary', '')}"))
        body.append(card(lines, ident=f"chronology-{s.visit_id}",
                         on_click=_opener(shell, s.visit_id)))
    return screen(body)


def _opener(shell: ConsoleShell, visit_id: str) -> Callable[[], None]:
    return lambda: shell.go("visit", visit_id)
