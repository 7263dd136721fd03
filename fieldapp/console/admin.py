"""The admin's screens: the school's staff (mobile, safeguarding training, the sign-offs
they may give, a printable enrolment slip for a phone), the phones (revoke a lost one), the
school's contacts the phones dial; and the audit log, for the admin and the DSL."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

import flet as ft

from fieldapp.console.shell import card, download, said, screen, use_shell, while_signed_in
from fieldapp.hub.console import EnrolmentSlip
from fieldapp.hub.directory import Contacts, StaffMember
from fieldapp.hub.errors import HubError
from fieldapp.screens.look import GAP, GO, INFO, STOP, TITLE, banner, button, text


def _box(label: str, value: str, keep: Callable[[str], None], ident: str,
         width: int = 260) -> ft.Control:
    return ft.Semantics(identifier=ident, content=ft.TextField(
        label=label, value=value, width=width, text_size=16,
        on_change=lambda e: keep(e.control.value)))


def _tick(label: str, on: bool, flip: Callable[[], None], ident: str) -> ft.Control:
    return ft.Semantics(identifier=ident, checked=on, label=label, container=True,
                        content=ft.Container(on_click=lambda _=None: flip(),
                                             padding=ft.Padding(4, 6, 4, 6), content=ft.Row([
                                                 ft.Icon(ft.Icons.CHECK_BOX if on else
                                                         ft.Icons.CHECK_BOX_OUTLINE_BLANK,
                                                         color=INFO),
                                                 ft.Text(label, size=16)], spacing=8)))


@ft.component
@while_signed_in
def StaffScreen() -> ft.Control:
    shell = use_shell()
    loads, reload = ft.use_state(0)
    found = ft.use_memo(lambda: shell.call(shell.service.staff), [loads])
    roles = shell.call(shell.service.sign_off_roles)
    if isinstance(found, HubError) or isinstance(roles, HubError):
        return text(said(found) or said(roles), colour=STOP)
    body: list[ft.Control] = [text("Staff", TITLE, ft.FontWeight.BOLD)]
    if shell.notice:
        body.append(banner(shell.notice, GO, ft.Icons.CHECK, "notice"))
    body += [StaffLine(m, roles, lambda: reload(loads + 1)) for m in found]
    return screen(body)


@ft.component
@while_signed_in
def StaffLine(member: StaffMember, roles: tuple[str, ...],
              saved: Callable[[], None]) -> ft.Control:
    shell = use_shell()
    mobile: Any = ft.use_ref(member.mobile)
    trained, set_trained = ft.use_state(member.safeguarding_trained)
    held, set_held = ft.use_state(frozenset(member.pack_roles))
    said_now, say = ft.use_state(("", ""))  # (colour, words)
    slip, set_slip = ft.use_state(cast(EnrolmentSlip | None, None))
    leaving, set_leaving = ft.use_state(False)
    ident = member.staff_id

    def has_left() -> None:
        done = shell.call(lambda u: shell.service.remove_staff(u, ident))
        set_leaving(False)
        if isinstance(done, HubError):
            say((STOP, str(done)))
            return
        shell.notice = f"{member.name} has left: {done} phone(s) revoked"
        saved()

    def save() -> None:
        done = shell.call(lambda u: shell.service.update_staff(
            u, ident, mobile=str(mobile.current or ""), safeguarding_trained=trained,
            pack_roles=held))
        say((STOP, str(done)) if isinstance(done, HubError) else (GO, "Saved"))
        if not isinstance(done, HubError):
            saved()

    def new_slip() -> None:
        made = shell.call(lambda u: shell.service.enrol_code(u, ident))
        if isinstance(made, HubError):
            say((STOP, str(made)))
            return
        set_slip(made)

    async def print_slip(made: EnrolmentSlip) -> None:
        pdf = shell.call(lambda u: shell.service.slip_pdf(u, member.name, made))
        if isinstance(pdf, HubError):
            say((STOP, str(pdf)))
            return
        await download(f"enrolment-slip-{ident}.pdf", pdf)

    lines: list[ft.Control] = [
        text(f"{member.name} · {member.staff_id} · {member.role}", 18, ft.FontWeight.BOLD),
        ft.Row([_box("Mobile", member.mobile, lambda v: setattr(mobile, "current", v),
                     f"mobile-{ident}"),
                _tick("Safeguarding trained", trained, lambda: set_trained(not trained),
                      f"trained-{ident}")], wrap=True, spacing=GAP * 2),
    ]
    def flip(role: str) -> Callable[[], None]:
        return lambda: set_held(held - {role} if role in held else held | {role})

    lines.append(ft.Row([text("May sign off as:"), *[
        _tick(role.replace("_", " "), role in held, flip(role), f"role-{ident}-{role}")
        for role in roles]], wrap=True, spacing=GAP))
    lines.append(ft.Row([
        ft.Container(width=160, content=button("Save", save, colour=GO, ident=f"save-{ident}")),
        ft.Container(width=280, content=button("Enrol a phone", new_slip, filled=False,
                                               colour=INFO, ident=f"enrol-{ident}")),
        ft.Container(width=200, content=button("Has left", lambda: set_leaving(True),
                                               filled=False, colour=STOP,
                                               ident=f"leave-{ident}")),
    ], wrap=True, spacing=GAP))
    if leaving:
        lines.append(card([
            text(f"{member.name} has left? Their phones are revoked and told to wipe at their "
                 "next sync (sync them first), their console login and mobile go. Their name "
                 "stays on the visits they made.", weight=ft.FontWeight.BOLD),
            ft.Row([ft.Container(width=240, content=button(
                "Yes, they have left", has_left, colour=STOP, ident=f"confirm-leave-{ident}")),
                ft.Container(width=160, content=button(
                    "Not now", lambda: set_leaving(False), filled=False, colour=INFO,
                    ident=f"cancel-leave-{ident}"))], spacing=GAP)]))
    if said_now[1]:
        lines.append(banner(said_now[1], said_now[0], ft.Icons.INFO_OUTLINE, f"said-{ident}"))
    if slip is not None:
        zone = shell.zone()
        lines.append(card([
            text("Enrolment code (works once, for one phone)", weight=ft.FontWeight.BOLD),
            ft.Semantics(identifier=f"slip-{ident}", content=text(slip.code, 24,
                                                                  ft.FontWeight.BOLD)),
            text(f"Until {slip.expires_at.astimezone(zone):%H:%M}. Hub key fingerprint: "
                 f"{slip.hub_key_fingerprint}"),
            ft.Container(width=260, content=button("Print the slip (PDF)",
                                                   partial(print_slip, slip),
                                                   filled=False, colour=INFO,
                                                   ident=f"print-{ident}",
                                                   icon=ft.Icons.PRINT)),
        ]))
    return card(lines, ident=f"staff-{ident}")


@ft.component
@while_signed_in
def PhonesScreen() -> ft.Control:
    shell = use_shell()
    loads, reload = ft.use_state(0)
    asked, set_asked = ft.use_state("")  # the phone whose revocation awaits a yes
    found = ft.use_memo(lambda: shell.call(shell.service.devices), [loads])
    if isinstance(found, HubError):
        return text(str(found), colour=STOP)
    zone = shell.zone()

    def revoke(device_id: str) -> None:
        shell.call(lambda u: shell.service.revoke(u, device_id))
        set_asked("")
        reload(loads + 1)  # the list as it is now says whether it took (a refusal: why)

    body: list[ft.Control] = [text("Phones", TITLE, ft.FontWeight.BOLD)]
    for d in found:
        device_id = d["device_id"]
        lines: list[ft.Control] = [
            text(f"{d['name']} · {d['staff_id']}", 18, ft.FontWeight.BOLD),
            text(f"Enrolled {d['enrolled_at'].astimezone(zone):%d %b %Y %H:%M}"),
        ]
        if d["revoked_at"] is not None:
            lines.append(text(f"Revoked {d['revoked_at'].astimezone(zone):%d %b %Y %H:%M}: "
                              "it wipes itself when it next reaches the hub", colour=STOP,
                              weight=ft.FontWeight.BOLD))
        elif asked == device_id:
            lines.append(ft.Row([
                ft.Container(width=340, content=button(
                    "Yes: revoke it and wipe it", partial(revoke, device_id), colour=STOP,
                    ident=f"confirm-revoke-{device_id}")),
                ft.Container(width=160, content=button("No", lambda: set_asked(""),
                                                       filled=False, ident="keep")),
            ], spacing=GAP))
        else:
            lines.append(ft.Container(width=300, content=button(
                "Lost or stolen: revoke", partial(set_asked, device_id), filled=False,
                colour=STOP, ident=f"revoke-{device_id}")))
        body.append(card(lines, ident=f"phone-{device_id}"))
    if not found:
        body.append(text("No phones enrolled yet: enrol one from Staff."))
    return screen(body)


@ft.component
@while_signed_in
def ContactsScreen() -> ft.Control:
    shell = use_shell()
    found = ft.use_memo(lambda: shell.call(shell.service.contacts), [])
    kept: Any = ft.use_ref(dict)
    outcome, set_outcome = ft.use_state(("", ""))
    if isinstance(found, HubError):
        return text(str(found), colour=STOP)
    values: dict[str, str] = kept.current
    current = {**found.to_dict(), **values}

    def save() -> None:
        typed = Contacts(**{**found.to_dict(), **values})
        done = shell.call(lambda u: shell.service.set_contacts(u, typed))
        set_outcome((STOP, str(done)) if isinstance(done, HubError) else
                    (GO, "Saved: the phones get these numbers on their next sync"))

    fields = (("reception_phone", "Reception's number (the safe-phrase call)"),
              ("school_phone", "The school's number (on the Not-at-Home note)"),
              ("dsl_mobile", "The DSL's mobile"), ("office_hours", "Office hours"))
    body: list[ft.Control] = [text("The school's contacts", TITLE, ft.FontWeight.BOLD)]
    def keep(name: str) -> Callable[[str], None]:
        return lambda value: values.__setitem__(name, value)

    body += [_box(label, current[name], keep(name), f"contact-{name.replace('_', '-')}", 420)
             for name, label in fields]
    body.append(ft.Container(width=200, content=button("Save", save, colour=GO, ident="save")))
    if outcome[1]:
        body.append(banner(outcome[1], outcome[0], ft.Icons.INFO_OUTLINE, "outcome"))
    return screen(body)


@ft.component
@while_signed_in
def AuditScreen() -> ft.Control:
    shell = use_shell()
    found = ft.use_memo(lambda: shell.call(shell.service.audit_log), [])
    if isinstance(found, HubError):
        return text(str(found), colour=STOP)
    zone = shell.zone()
    rows = [ft.DataRow(cells=[
        ft.DataCell(ft.Text(f"{e.at.astimezone(zone):%d %b %H:%M:%S}")),
        ft.DataCell(ft.Text(f"{e.staff_id} ({e.role})")),
        ft.DataCell(ft.Text(e.action.replace("_", " "))),
        ft.DataCell(ft.Text(e.subject))]) for e in found]
    return ft.Column([
        text("Audit log: who read what, and who changed what (newest first)", TITLE,
             ft.FontWeight.BOLD),
        ft.DataTable(columns=[ft.DataColumn(label=ft.Text(name)) for name in
                              ("When", "Who", "Did", "To what")], rows=rows),
    ], spacing=GAP, scroll=ft.ScrollMode.AUTO, expand=True)
