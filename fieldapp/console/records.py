"""Children's records at the console (fieldapp.hub.retention): how long the school keeps each
kind and what is due to go, for the DSL and the admin; the DSL's hold on a visit, in its file;
and, on a child's chronology, the subject access export and erasure on request."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

import flet as ft

from fieldapp.console.shell import card, download, said, screen, use_shell, while_signed_in
from fieldapp.hub.errors import HubError
from fieldapp.hub.retention import Rule
from fieldapp.screens.look import CAUTION, GAP, GO, INFO, STOP, TITLE, banner, button, text

KIND_WORDS = {"routine": "Routine visits (attendance, welfare, new starters: no concern or "
                         "alert raised)",
              "safeguarding": "Safeguarding visits (a concern or an alert raised)",
              "audit": "Audit log entries"}


def _number(label: str, value: int | None, keep: Callable[[int | None], None],
            ident: str) -> ft.Control:
    def typed(event: Any) -> None:
        words = str(event.control.value).strip()
        keep(int(words) if words.isdigit() else None)

    return ft.Semantics(identifier=ident, content=ft.TextField(
        label=label, value="" if value is None else str(value), width=200, text_size=16,
        on_change=typed))


@ft.component
@while_signed_in
def RetentionScreen() -> ft.Control:
    shell = use_shell()
    loads, reload = ft.use_state(0)
    found = ft.use_memo(lambda: shell.call(shell.service.retention), [loads])
    typed: Any = ft.use_ref(dict)
    outcome, set_outcome = ft.use_state(("", ""))
    if isinstance(found, HubError):
        return text(str(found), colour=STOP)
    rules, holds, due = found
    values: dict[str, tuple[int | None, int | None]] = typed.current

    def save(kind: str) -> None:
        years, age = values.get(kind, (rules[kind].after_years, rules[kind].until_age))
        done = shell.call(lambda u: shell.service.set_retention(u, Rule(kind, years, age)))
        set_outcome((STOP, str(done)) if isinstance(done, HubError) else
                    (GO, f"Saved: {KIND_WORDS[kind].split(' (')[0]}, "
                         f"{Rule(kind, years, age).words()}"))
        reload(loads + 1)

    def delete_due() -> None:
        done = shell.call(shell.service.expire)
        set_outcome((STOP, str(done)) if isinstance(done, HubError) else
                    (GO, f"Deleted {len(done.expired)} visits"
                         + (f" and {done.audit_entries} audit entries" if done.audit_entries
                            else "")))
        reload(loads + 1)

    def keep(kind: str, which: int) -> Callable[[int | None], None]:
        def put(value: int | None) -> None:
            now = list(values.get(kind, (rules[kind].after_years, rules[kind].until_age)))
            now[which] = value
            values[kind] = (now[0], now[1])
        return put

    body: list[ft.Control] = [
        text("How long the school keeps children's records", TITLE, ft.FontWeight.BOLD),
        text("A kind with no rule is kept. Records are deleted for good once their time is "
             "up, sealed records too; a visit the DSL holds is kept whatever the rule. "
             "Backups keep them until the backups expire."),
    ]
    if outcome[1]:
        body.append(banner(outcome[1], outcome[0], ft.Icons.INFO_OUTLINE, "outcome"))
    for kind, rule in rules.items():
        inputs: list[ft.Control] = [_number("Years after the visit" if kind != "audit" else
                                            "Years", rule.after_years, keep(kind, 0),
                                            f"retention-{kind}-years")]
        if kind != "audit":
            inputs.append(_number("Or until the child is", rule.until_age, keep(kind, 1),
                                  f"retention-{kind}-age"))
        body.append(card([text(KIND_WORDS[kind], 18, ft.FontWeight.BOLD),
                          text(f"Now: {rule.words()}"),
                          ft.Row([*inputs, ft.Container(width=140, content=button(
                              "Save", partial(save, kind), colour=GO,
                              ident=f"save-{kind}"))], wrap=True, spacing=GAP)],
                         ident=f"rule-{kind}"))
    body.append(text("Due to be deleted now", TITLE, ft.FontWeight.BOLD))
    body += [ft.Semantics(identifier=f"due-{facts.visit_id}", content=text(
        f"{facts.visit_id} ({facts.kind}, child {facts.child_ref})"))
        for facts in due.expired] or [text("Nothing.")]
    if due.audit_entries:
        body.append(text(f"{due.audit_entries} audit entries"))
    if due.expired or due.audit_entries:
        body.append(ft.Container(width=320, content=button(
            "Delete what is due now", delete_due, colour=STOP, ident="delete-due")))
    body += [text(f"Kept: {facts.visit_id}: {why}", colour=CAUTION) for facts, why in due.kept]
    body.append(text("On hold", TITLE, ft.FontWeight.BOLD))
    body += [ft.Semantics(identifier=f"hold-{visit_id}", content=text(
        f"{visit_id}: by {hold.staff_id}, {hold.reason}"))
        for visit_id, hold in holds.items()] or [text("No visit is on hold.")]
    return screen(body)


@ft.component
def HoldCard(visit_id: str) -> ft.Control:
    """On a visit's file, for the DSL: whether it is held, and hold it or let it go."""
    shell = use_shell()
    loads, reload = ft.use_state(0)
    held = ft.use_memo(lambda: shell.call(lambda u: shell.service.held(u, visit_id)),
                       [visit_id, loads])
    reason: Any = ft.use_ref(str)
    error, set_error = ft.use_state("")

    def change(words: str) -> None:
        done = shell.call(lambda u: shell.service.hold(u, visit_id, words))
        set_error(said(done) if isinstance(done, HubError) else "")
        reload(loads + 1)

    lines: list[ft.Control]
    if isinstance(held, HubError):  # whether it is held is not known: nothing offered
        return card([text(said(held), colour=STOP), ft.Container(width=200, content=button(
            "Try again", lambda: reload(loads + 1), filled=False, colour=INFO,
            ident="hold-again"))], ident="hold-card")
    if held is not None:
        lines = [text(f"On hold: kept whatever the retention rules say, and from erasure. "
                      f"By {held.staff_id}: {held.reason}", colour=CAUTION,
                      weight=ft.FontWeight.BOLD),
                 ft.Container(width=240, content=button("Let the hold go", partial(
                     change, ""), filled=False, colour=INFO, ident="release-hold"))]
    else:
        lines = [text("Keep this visit whatever the retention rules say (a case open, a court, "
                      "an inquiry): it cannot be erased while held."),
                 ft.Row([ft.Semantics(identifier="hold-reason", content=ft.TextField(
                     label="Why", width=420, text_size=16,
                     on_change=lambda e: setattr(reason, "current", e.control.value))),
                     ft.Container(width=200, content=button(
                         "Put on hold", lambda: change(cast(str, reason.current) or " "),
                         colour=INFO, ident="hold"))], wrap=True, spacing=GAP)]
    if error:
        lines.append(text(error, colour=STOP))
    return card(lines, ident="hold-card")


@ft.component
def ChildRecords(child_ref: str) -> ft.Control:
    """On a child's chronology, for the DSL: everything held about the child for a subject
    access request, and erasure on request (typed confirmation; held visits stay)."""
    shell = use_shell()
    confirm: Any = ft.use_ref(str)
    outcome, set_outcome = ft.use_state(("", ""))

    async def export(form: str) -> None:
        data = shell.call(lambda u: shell.service.subject_access(u, child_ref, form))
        if isinstance(data, HubError):
            set_outcome((STOP, str(data)))
            return
        await download(f"subject-access-{child_ref}.{form}", data)

    def erase() -> None:
        if confirm.current != child_ref:
            set_outcome((STOP, f"Type the child's reference, {child_ref}, to erase: nothing "
                               "was erased"))
            return
        done = shell.call(lambda u: shell.service.erase_child(u, child_ref))
        if isinstance(done, HubError):
            set_outcome((STOP, str(done)))
            return
        gone, held = done
        set_outcome((GO, f"Erased {len(gone)} visits" + (
            f"; kept {len(held)} on hold: {', '.join(held)}" if held else "")
            + ". Backups keep them until the backups expire."))

    lines: list[ft.Control] = [
        text("This child's records", 18, ft.FontWeight.BOLD),
        ft.Row([ft.Container(width=280, content=button(
            f"Subject access ({form.upper()})", partial(export, form), filled=False,
            colour=INFO, icon=ft.Icons.DOWNLOAD, ident=f"subject-access-{form}"))
            for form in ("pdf", "json")], wrap=True, spacing=GAP),
        text("Erase on request: every visit to this child is deleted for good, sealed "
             "records too, except visits on hold."),
        ft.Row([ft.Semantics(identifier="erase-confirm", content=ft.TextField(
            label=f"Type {child_ref} to confirm", width=300, text_size=16,
            on_change=lambda e: setattr(confirm, "current", e.control.value))),
            ft.Container(width=240, content=button("Erase for good", erase, colour=STOP,
                                                   ident="erase"))],
            wrap=True, spacing=GAP)]
    if outcome[1]:
        lines.append(banner(outcome[1], outcome[0], ft.Icons.INFO_OUTLINE, "erase-outcome"))
    return card(lines, ident="child-records")
