"""One visit, whatever its stage: the engine's "what now?" drawn as it is.

Top to bottom: where the visit is; what the last tap decided; the standing instructions; the
timers; the reminders due; then either the one question (big answers at the bottom, "3 of
6") or the actions the stage allows, each open or refused with the engine's reason and the
policy's words behind "Why?"; last, the answers this phone gave at this stage, each
changeable until the visit moves on (a stopping answer's card offers to change it too). The
help bar (call the office, 999) is pinned at the bottom
from sign-out until back at school."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import flet as ft

from fieldapp.app.service import ServiceError
from fieldapp.domain.findings import Finding
from fieldapp.domain.guide import Action, Given, Question, Stage, Timer, WhatNow
from fieldapp.domain.lifecycle import OUT
from fieldapp.screens.help import HelpBar
from fieldapp.screens.look import (
    CAUTION,
    GAP,
    GO,
    INFO,
    ON_COLOUR,
    QUESTION,
    STOP,
    TITLE,
    back,
    banner,
    button,
    text,
    tone,
)
from fieldapp.screens.shell import Shell, go, use_shell, while_open
from fieldapp.screens.words import (
    AFTER_A_STOP,
    AT_SCHOOL,
    CONFIRM,
    HELP,
    STAGE,
    action_words,
    timer_words,
)


@ft.component
def FindingCard(finding: Finding, ident: str = "",
                dismiss: Callable[[], None] | None = None) -> ft.Control:
    """What to do, large; why, under it; the policy's own words behind "Why?"; "Got it" for
    a reminder that may be put away."""
    why, set_why = ft.use_state(False)
    colour, icon, word = tone(finding)
    lines: list[ft.Control | None] = [
        ft.Row([ft.Icon(icon, color=ON_COLOUR, size=24),
                text(word.upper(), 14, ft.FontWeight.BOLD, ON_COLOUR)], spacing=GAP),
        text(finding.say, 18, ft.FontWeight.BOLD, ON_COLOUR),
        text(f"Because {finding.because}.", colour=ON_COLOUR) if finding.because else None,
    ]
    if finding.quote:
        lines.append(ft.TextButton(content=text("Hide the policy" if why else "Why?",
                                                colour=ON_COLOUR),
                                   on_click=lambda: set_why(not why),
                                   tooltip="Show the policy's own words"))
        if why:
            lines.append(text(f"“{finding.quote}” — {finding.policy}", colour=ON_COLOUR))
    if dismiss is not None:
        lines.append(ft.Semantics(identifier=f"dismiss-{finding.code}", button=True,
                                  label=f"Got it: {finding.say}", content=ft.TextButton(
                                      content=text("Got it", colour=ON_COLOUR),
                                      on_click=lambda: dismiss())))
    return ft.Semantics(identifier=ident or f"finding-{finding.code}", container=True,
                        content=ft.Container(
                            content=ft.Column([line for line in lines if line is not None],
                                              spacing=4),
                            bgcolor=colour, padding=14, border_radius=12))


def _timer(timer: Timer, shell: Shell) -> ft.Control:
    zone = shell.phone.pack().hours.zone
    limit, normal = timer.limit, timer.normal
    share = min(1.0, timer.elapsed / limit) if limit else None
    colour = GO
    if limit is not None and timer.elapsed >= limit:
        colour = STOP
    elif (normal is not None and timer.elapsed >= normal) or (share or 0) >= 0.8:
        colour = CAUTION
    left = ""
    if timer.name == "wait" and limit is not None:
        remaining = max(limit - timer.elapsed, timedelta(0))
        left = f" · {int(remaining.total_seconds() // 60)}:" \
               f"{int(remaining.total_seconds() % 60):02d} left"
    words = timer_words(timer, zone) + left
    return ft.Semantics(identifier=f"timer-{timer.name}", label=words, content=ft.Column([
        text(words, 18, ft.FontWeight.BOLD),
        ft.ProgressBar(value=share, color=colour, bar_height=10, border_radius=5)
        if share is not None else ft.Container(),
    ], spacing=4))


def _question(question: Question, answer: Any) -> list[ft.Control]:
    buttons = []
    for choice in question.choices:
        stops = bool(set(choice.then) & {"do_not_enter", "leave", "call_999", "cancel"})
        buttons.append(button(
            choice.label, lambda _=None, value=choice.value: answer(question.item, value == "yes"),
            says=f"Answer {choice.value}: {choice.label}", colour=STOP if stops else INFO,
            ident=f"answer-{choice.value}"))
    return [
        text(f"{question.number} of {question.of}" + (" · asked again" if question.again
                                                       else ""), key="progress"),
        ft.Semantics(identifier="question", label=question.ask, header=True,
                     content=text(question.ask, QUESTION, ft.FontWeight.BOLD)),
        ft.Container(expand=True),
        *buttons,
    ]


def _given(given: tuple[Given, ...], answer: Any) -> list[ft.Control]:
    """This stage's answers from this phone, each changeable until the visit moves on."""
    if not given:
        return []
    rows: list[ft.Control] = [text("Your answers: change one until you go on", 18,
                                   ft.FontWeight.BOLD)]
    for one in given:
        rows.append(ft.Semantics(identifier=f"given-{one.item}", container=True,
                                 label=f"{one.ask} {one.answer.label}", content=ft.Column([
            text(f"{one.ask} — {one.answer.label}"),
            button(f"Change to: {one.change_to.label}",
                   lambda _=None, g=one: answer(g.item, g.change_to.value == "yes"),
                   says=f"Change the answer to '{one.ask}' to {one.change_to.label}",
                   filled=False, colour=INFO, ident=f"change-{one.item}"),
        ], spacing=4)))
    return rows


@ft.component
def ActionRow(action: Action, visit_id: str, back_in_room: bool, run: Any) -> ft.Control:
    """One action: a button when open; when refused, the reason and "Why?"."""
    words = action_words(action.name, back_in_room)
    if action.open:
        needs_form = any(f.kind not in ("value", "new_id") for f in action.fields) \
            or action.name in CONFIRM
        target = (lambda: go(f"/visit/{visit_id}/do/{action.name}")) if needs_form \
            else (lambda: run(action.name))
        colour = STOP if action.name in ("leave", "cancel") else INFO
        if action.name in ("sign_out", "enter", "record_outcome", "return"):
            colour = GO
        return button(words, target, colour=colour, ident=f"do-{action.name}")
    return ft.Column([
        button(words, None, disabled=True, ident=f"refused-{action.name}",
               says=f"{words}: not possible now"),
        *[FindingCard(refusal, ident=f"refusal-{action.name}-{refusal.code}")
          for refusal in action.refusals[:2]],
    ], spacing=4)


@ft.component
@while_open
def VisitScreen() -> ft.Control:
    shell = use_shell()
    visit_id = ft.use_route_params()["visit_id"]
    told, set_told = ft.use_state(cast(tuple[Finding, ...], ()))
    last, set_last = ft.use_state("")  # the checklist item last answered on this screen
    put_away, set_put_away = ft.use_state(frozenset[str]())  # reminders staff dismissed
    error, set_error = ft.use_state("")
    tick, set_tick = ft.use_state(0)
    _ = (shell.revision, tick)
    guide: WhatNow = shell.phone.guide(visit_id)
    state = shell.phone.state(visit_id)

    def every_second() -> Any:
        async def ticker() -> None:
            count = 0
            while True:
                await asyncio.sleep(1)
                count += 1
                set_tick(count)

        task = ft.context.page.run_task(ticker) if guide.timers else None
        return (lambda: task.cancel()) if task else None

    ft.use_effect(every_second, [bool(guide.timers)])

    def after(decision_findings: tuple[Finding, ...]) -> None:
        set_told(decision_findings)
        set_error("")
        shell.changed()

    def answer(item: str, yes: bool) -> None:
        try:
            after(shell.phone.answer(visit_id, item, yes).findings)
            set_last(item)
        except ServiceError as failure:
            set_error(str(failure))

    def run(action: str) -> None:
        try:
            after(shell.phone.act(visit_id, action, {}).findings)
        except (ServiceError, ValueError) as failure:
            set_error(str(failure))

    plan = state.plan
    body: list[ft.Control] = [
        ft.Row([back("Back to today", lambda: go("/")),
                ft.Semantics(identifier="stage", header=True, expand=True, content=text(
                    STAGE[guide.stage], TITLE, ft.FontWeight.BOLD))]),
        text(f"{plan.get('child_name') or plan.get('child_ref', '')} · "
             f"{plan.get('address', '')}"),
    ]
    if guide.stage is Stage.AUTHORISE:
        body.append(banner("The school has not signed this visit off yet: sync to see when "
                           "it has.", INFO, ft.Icons.HOURGLASS_EMPTY, "waiting-sign-off"))
    if error:
        body.append(banner(error, STOP, ft.Icons.ERROR_OUTLINE, "error"))
    body += [_timer(timer, shell) for timer in guide.timers]
    stopping = [f for f in told if tone(f)[0] == STOP]
    if stopping:  # a stopping answer takes the screen: what to do, and what it allows
        allowed = sorted((a for a in guide.actions if a.open and a.name in AFTER_A_STOP),
                         key=lambda a: AFTER_A_STOP.index(a.name))
        return ft.Column([
            ft.Column([*[FindingCard(f, ident=f"told-{f.code}") for f in stopping],
                       *[ActionRow(a, visit_id, not state.adult_in_room, run)
                         for a in allowed],
                       *_given(tuple(g for g in guide.given if g.item == last), answer),
                       button("Back to the visit", lambda: set_told(()), filled=False,
                              colour=INFO, ident="back-to-visit")],
                      spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO, expand=True,
                      horizontal_alignment=ft.CrossAxisAlignment.STRETCH),
            HelpBar(visit_id)], expand=True, spacing=GAP)
    body += [FindingCard(f, ident=f"told-{f.code}") for f in told]
    body += [FindingCard(f) for f in guide.standing if f not in told]
    def put_away_later(code: str) -> Callable[[], None]:
        return lambda: set_put_away(put_away | {code})

    body += [FindingCard(f, ident=f"reminder-{f.code}", dismiss=put_away_later(f.code))
             for f in guide.reminders if f.code not in put_away]
    if guide.action("leave_note") is not None:
        body.append(note_card(shell))
    actions = [a for a in guide.actions if a.name not in HELP | AT_SCHOOL]
    if guide.question is not None:
        body += _question(guide.question, answer)
        actions = [a for a in actions if a.name in ("leave", "raise_concern", "cancel")]
    body += [ActionRow(a, visit_id, not state.adult_in_room, run) for a in actions]
    body += _given(guide.given, answer)
    column = ft.Column(body, spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO, expand=True,
                       horizontal_alignment=ft.CrossAxisAlignment.STRETCH)
    if state.phase in OUT:
        return ft.Column([column, HelpBar(visit_id)], expand=True, spacing=GAP)
    return column


def note_card(shell: Shell) -> ft.Control:
    """The Not-at-Home note: the pack's words with the school's number, to copy."""
    note = shell.phone.note_text()

    async def copy() -> None:
        await ft.Clipboard().set(note)
        shell.changed("Copied the note")

    return ft.Semantics(identifier="note-text", container=True, content=ft.Container(
        border=ft.Border.all(2, INFO), border_radius=12, padding=12, content=ft.Column([
            text("If nobody comes: leave this note", 18, ft.FontWeight.BOLD),
            ft.Text(note, size=16, selectable=True),
            button("Copy the note", copy, filled=False, colour=INFO, ident="copy-note"),
        ], spacing=GAP)))
