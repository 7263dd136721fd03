"""An action's fields, as the engine lists them, and the button that sends them.

Each field kind has one control: text -> a text box; time -> "HH:MM" (the latest the policy
allows said under it); tick / yes-no -> a checkbox; choice -> one button per answer, each
saying what it leads to; list -> one item per line; actions -> rows of what / who / by when.
The button says what happens ("Sign out — reception will expect you back by 11:40")."""

from __future__ import annotations

from typing import Any, cast

import flet as ft

from fieldapp.app.service import ServiceError
from fieldapp.domain.findings import Finding
from fieldapp.domain.forms import ActionRow, FormError, parse_time
from fieldapp.domain.guide import Field
from fieldapp.screens.look import GAP, GO, INFO, STOP, TITLE, back, banner, button, text
from fieldapp.screens.shell import go, use_shell, while_open
from fieldapp.screens.visit import FindingCard
from fieldapp.screens.words import CHARGED, CONFIRM, action_words

ROWS = 3  # follow-up action rows offered on the outcome


def _ident(name: str) -> str:
    return "field-" + name.replace(".", "-").replace("_", "-")


@ft.component
@while_open
def ActionForm() -> ft.Control:
    shell = use_shell()
    params = ft.use_route_params()
    visit_id, name = params["visit_id"], params["action"]
    # What was typed and tapped, kept outside the state: typing does not draw the form again
    # (a redraw racing the next keystroke would lose it); leaving a box, a tick or a choice
    # does.
    kept: Any = ft.use_ref(dict)
    values: dict[str, Any] = kept.current
    drawn, redraw = ft.use_state(0)
    problem, set_problem = ft.use_state(("", ""))  # (field, what to put right)
    refusals, set_refusals = ft.use_state(cast(tuple[Finding, ...], ()))
    guide = shell.phone.guide(visit_id)
    action = guide.action(name)
    zone = shell.phone.pack().hours.zone
    if action is None:
        return ft.Column([text("This step is no longer possible: the visit has moved on."),
                          button("Back to the visit", lambda: go(f"/visit/{visit_id}"),
                                 ident="back-to-visit")])

    def put(field: str, value: Any, draw: bool = True) -> None:
        values[field] = value
        if draw:
            redraw(drawn + 1)

    def send() -> None:
        try:
            decision = shell.phone.act(visit_id, name, values)
        except FormError as wrong:
            set_problem((wrong.field, str(wrong)))
            return
        except (ServiceError, ValueError) as failure:
            set_problem(("", str(failure)))
            return
        if not decision.accepted:
            set_refusals(decision.refusals)
            return
        shell.changed("Saved")
        go(f"/visit/{visit_id}")

    body: list[ft.Control] = [
        ft.Row([back("Back to the visit", lambda: go(f"/visit/{visit_id}")),
                text(action_words(name), TITLE, ft.FontWeight.BOLD)]),
        *[FindingCard(g) for g in action.guidance],
    ]
    for field in action.fields:
        if field.kind in ("value", "new_id", "staff"):
            continue
        body.append(field_control(field, values, put, zone))
        if field.name in CHARGED:
            body.append(BatteryLevel())
        if problem[0] == field.name:
            body.append(text(problem[1], colour=STOP, key=f"problem-{field.name}"))
    if problem[1] and problem[0] not in {f.name for f in action.fields}:
        body.append(banner(problem[1], STOP, ft.Icons.ERROR_OUTLINE, "error"))
    body += [FindingCard(r, ident=f"refusal-{r.code}") for r in refusals]
    label = action_words(name)
    if name == "sign_out":
        back_by = str(values.get("expected_return") or "").strip()
        try:
            at = parse_time(back_by, shell.now(), zone) if back_by else None
        except ValueError:
            at = None
        if at is not None:
            label = f"Sign out — reception will expect you back by {at:%H:%M}"
    if name in CONFIRM:
        label = f"Yes: {label.lower()}"
    body.append(button(label, lambda: send(), colour=STOP if name in ("leave", "cancel")
                       else GO, ident="send"))
    return ft.Column(body, spacing=GAP * 2, scroll=ft.ScrollMode.AUTO, expand=True,
                     horizontal_alignment=ft.CrossAxisAlignment.STRETCH)


def field_control(field: Field, values: dict[str, Any], put: Any, zone: Any) -> ft.Control:
    """The one control for a field (the phone's forms and the console's)."""
    value = values.get(field.name)
    label = field.label + ("" if field.required or field.kind in ("tick", "yes_no")
                           else " (if any)")
    ident = _ident(field.name)
    if field.kind == "choice" or field.choices[1:]:  # answers to choose between
        return _choice(field, value, put, ident, yes_no=field.kind == "yes_no")
    if field.kind in ("tick", "yes_no"):
        ticked = value is True
        return ft.Semantics(identifier=ident, checked=ticked, label=label, container=True,
                            content=ft.Container(
            on_click=lambda: put(field.name, not ticked), padding=ft.Padding(4, 8, 4, 8),
            content=ft.Row([ft.Icon(ft.Icons.CHECK_BOX if ticked else
                                    ft.Icons.CHECK_BOX_OUTLINE_BLANK, size=28, color=INFO),
                            ft.Text(label, size=16, expand=True)], spacing=12)))
    if field.kind == "actions":
        return _actions(values, put)
    hint = ""
    if field.kind == "time":
        hint = "24-hour, e.g. 11:40"
        if field.latest is not None:
            label += f" (at the latest {field.latest.astimezone(zone):%H:%M})"
    if field.kind == "day":
        hint = "a date, e.g. 4/12"
    if field.kind == "when":
        hint = "a day and a time, e.g. 4/12 10:30"
    return ft.Semantics(identifier=ident, key=ident, content=ft.TextField(
        key=f"{ident}-box", label=label, value=str(value or ""), hint_text=hint or None,
        text_size=18,
        multiline=field.kind == "list" or field.name in ("summary", "note"),
        on_change=lambda e: put(field.name, e.control.value, draw=False),
        on_blur=lambda _: put(field.name, values.get(field.name))))  # typed: now redraw


def _choice(field: Field, value: Any, put: Any, ident: str,
            yes_no: bool = False) -> ft.Control:
    buttons = []
    for choice in field.choices:
        chosen = (value == (choice.value == "yes")) if yes_no else value == choice.value
        said = f" — {choice.say}" if choice.say else ""
        buttons.append(button(
            choice.label,
            lambda _=None, v=choice.value: put(field.name, (v == "yes") if yes_no else v),
            says=f"{field.label}: {choice.label}{said}" + (" (chosen)" if chosen else ""),
            filled=chosen, colour=INFO, ident=f"{ident}-{choice.value}",
            icon=ft.Icons.CHECK if chosen else None))
    return ft.Column([text(field.label, 18, ft.FontWeight.BOLD), *buttons], spacing=GAP)


def _actions(values: dict[str, Any], put: Any) -> ft.Control:
    """Follow-up actions: what, who, by when (typed without redrawing, like every box)."""
    def rows() -> list[ActionRow]:
        kept = list(values.get("actions") or ())
        return kept + [ActionRow("")] * (ROWS - len(kept))

    def change(index: int, part: str, new: str) -> None:
        current = rows()
        row = current[index]
        updated = ActionRow(**{**{"what": row.what, "who": row.who, "by_when": row.by_when},
                               part: new})
        put("actions", (*current[:index], updated, *current[index + 1:]), draw=False)

    def box(label: str, index: int, part: str, value: str, wide: bool) -> ft.Control:
        return ft.Semantics(identifier=f"action-{index + 1}-{part.replace('_', '-')}",
                            expand=wide, content=ft.TextField(
            label=label, value=value, text_size=16, expand=wide,
            on_change=lambda e: change(index, part, e.control.value)))

    controls: list[ft.Control] = [text("Actions: who does what, by when", 18,
                                       ft.FontWeight.BOLD)]
    for index, row in enumerate(rows()):
        controls.append(ft.Column([
            box(f"Action {index + 1}", index, "what", row.what, False),
            ft.Row([box("Who", index, "who", row.who, True),
                    box("By when (4/12)", index, "by_when", row.by_when, True)], spacing=GAP),
        ], spacing=4))
    return ft.Column(controls, spacing=GAP)


@ft.component
def BatteryLevel() -> ft.Control:
    """The phone's charge, beside a check that asks for a charged phone."""
    shell = use_shell()
    level, set_level = ft.use_state(cast(int | None, None))

    def read() -> None:
        async def ask() -> None:
            set_level(await shell.device.battery_level())

        ft.context.page.run_task(ask)

    ft.use_effect(read, [])
    words = "Battery: not known on this device" if level is None else f"Battery: {level}%"
    colour = STOP if level is not None and level < 30 else INFO
    return ft.Semantics(identifier="battery-level", label=words, content=ft.Row(
        [ft.Icon(ft.Icons.BATTERY_STD, color=colour), text(words, colour=colour)],
        spacing=GAP))
