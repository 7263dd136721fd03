"""Reception's board: every visit out, live, readable from two metres (UX.md).

One row per visit: a large state word on its colour, both names and mobiles, the address,
the vehicle and the time due back counting down; amber once the time is past, red once the
visit is overdue, with the pack's escalation steps as a numbered list to tick. An alert
nobody has acknowledged takes the whole screen: who, where (and the phone's last position),
the vehicle, the phrase they will say, when the hub last heard from them and the police
number, with a sound that repeats until someone acknowledges; an overdue visit sounds once.

Live, not polled: the board subscribes to the school's changes (fieldapp.hub.changes) and
draws again only the visits that changed; a timer re-judges the rows on the board by the
clock. No case notes: the board's rows carry none.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import wave
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any, Final, cast

import flet as ft
import flet_audio

from fieldapp.console.shell import use_shell, while_signed_in
from fieldapp.domain.lifecycle import Phase
from fieldapp.hub.board import Alert, BoardRow, ordered
from fieldapp.hub.errors import HubError
from fieldapp.screens.look import CAUTION, GAP, GO, INFO, ON_COLOUR, STOP, banner, button, text

RING_EVERY: Final = 4.0  # seconds between rings while an alert sounds
JUDGE_EVERY: Final = 30.0  # seconds: the rows on the board re-judged by the clock
BIG: Final = 28
IN_HAND_SHOWN: Final = 2  # alerts in hand a row lists (the DSL reads them all on the visit)

PHASE_WORDS: Final[dict[Phase, str]] = {
    Phase.SIGNED_OUT: "ON THE WAY", Phase.ARRIVED: "ARRIVED", Phase.WAITING: "WAITING AT DOOR",
    Phase.AT_DOOR: "AT THE DOOR", Phase.INSIDE: "INSIDE", Phase.DOORSTEP: "ON DOORSTEP",
    Phase.NOT_AT_HOME: "NOT AT HOME", Phase.CALLED_OFF: "CALLED OFF", Phase.LEFT: "ON THE WAY BACK",
}
ALERT_WORDS: Final = {
    "safe_phrase_used": "SAFE PHRASE USED",
    "emergency_call": "999 CALLED FROM A VISIT",
    "duress_alert": "SILENT ALERT: PHONE OPENED UNDER DURESS",
}


def ring_tone() -> bytes:
    """Two short beeps as a WAV file, made here (no asset to ship)."""
    rate, out = 8000, io.BytesIO()
    samples = []
    for beep in range(2):
        samples += [int(12000 * math.sin(2 * math.pi * 880 * n / rate)) for n in range(2400)]
        samples += [0] * (1200 if beep == 0 else 0)
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(rate)
        file.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return out.getvalue()


RING: Final = ring_tone()


def _local(at: datetime | str, zone: tzinfo) -> str:
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return f"{when.astimezone(zone):%H:%M}"


def _countdown(due: datetime, now: datetime) -> str:
    """"in 35 min", "in 2 h 05 min", "12 min late"."""
    minutes = int((due - now).total_seconds() // 60)
    span = abs(minutes)
    said = f"{span // 60} h {span % 60:02d} min" if span >= 60 else f"{span} min"
    return f"in {said}" if minutes >= 0 else f"{said} late"


@ft.component
@while_signed_in
def Board() -> ft.Control:
    shell = use_shell()
    user = shell.signed_in()
    held: Any = ft.use_ref(dict)  # visit id -> its row, as last drawn
    rung: Any = ft.use_ref(set)  # overdue visits that have sounded once
    shown, show = ft.use_state(cast(tuple[BoardRow, ...], ()))
    now, set_now = ft.use_state(shell.now())
    error, set_error = ft.use_state("")
    # When the database stopped answering, while it has not answered since: the rows are as
    # they were then, and the board says so until it catches up by itself.
    stale, set_stale = ft.use_state(cast(datetime | None, None))

    def redraw() -> None:
        show(ordered(held.current.values()))
        set_now(shell.now())

    def heard(answer: object) -> bool:
        """Whether the database answered; if not, the board says it is not up to date."""
        if isinstance(answer, HubError):  # signed out (the console shows sign-in) or barred
            if answer.status == 503:
                set_stale(lambda since: since or shell.now())
            return False
        set_stale(None)
        return True

    def start() -> Callable[[], None]:
        page = ft.context.page
        bell = flet_audio.Audio(src=RING)  # kept: a service lives while referenced

        async def load() -> None:
            """Every visit out, afresh: nothing missed while the board was not told."""
            found = shell.call(shell.service.board)
            if heard(found):
                held.current = {row.visit_id: row for row in cast(Any, found)[1]}
                redraw()

        async def refresh(visit_ids: frozenset[str]) -> None:
            rows = shell.call(lambda now_user: shell.service.board_rows(now_user, visit_ids))
            if not heard(rows):
                return
            for visit_id, row in cast(dict[str, BoardRow | None], rows).items():
                if row is None:
                    held.current.pop(visit_id, None)
                else:
                    held.current[visit_id] = row
            redraw()

        def changed(visit_ids: frozenset[str]) -> None:  # on the thread that stored them
            if page.session.connection is not None:  # else the tab has gone
                page.run_task(refresh, visit_ids)

        async def keep_watch() -> None:
            await load()
            waited = 0.0
            while True:
                await asyncio.sleep(RING_EVERY)
                waited += RING_EVERY
                if waited >= JUDGE_EVERY:
                    waited = 0.0
                    await load()
                rows = held.current.values()
                newly_overdue = {r.visit_id for r in rows if r.overdue} - rung.current
                rung.current |= newly_overdue
                if newly_overdue or any(r.sounding for r in rows):
                    await bell.play()

        stop_watching = shell.service.watch(user, changed)
        task = page.run_task(keep_watch)

        def stop(_: object = None) -> None:
            task.cancel()
            stop_watching()

        page.on_close = stop  # a closed tab stops listening, unmounted or not
        _ = bell
        return stop

    ft.use_effect(start, [])
    pack = shell.service.pack(user)
    zone = pack.hours.zone

    def acknowledge(row: BoardRow, alert: Alert, by: str) -> None:
        done = shell.call(lambda now_user: shell.service.acknowledge(now_user, row.visit_id,
                                                                     alert.id, by))
        # the change itself comes back through the board's subscription
        set_error(str(done) if isinstance(done, HubError) else "")

    sounding = [(row, alert) for row in shown for alert in row.sounding]
    if sounding:
        row, alert = sounding[0]
        return AlertTakeover(row, alert, pack.contacts.emergency or "999", zone,
                             len(sounding) - 1, user.name, acknowledge, error)
    body: list[ft.Control] = [
        ft.Row([text(f"Out now · {len(shown)} visit{'s' if len(shown) != 1 else ''}", BIG,
                     ft.FontWeight.BOLD),
                text(f"{now.astimezone(zone):%H:%M}", BIG, ft.FontWeight.BOLD)],
               alignment=ft.MainAxisAlignment.SPACE_BETWEEN),
    ]
    if stale is not None:
        body.append(banner(
            f"Not up to date: the hub's database has not answered since "
            f"{stale.astimezone(zone):%H:%M}. The rows are as they were then, and the board "
            "catches up by itself once it answers: phone the staff out if in doubt.", CAUTION,
            ft.Icons.CLOUD_OFF, "board-stale"))
    if not shown:
        body.append(text("Nobody is out on a visit.", 22))
    minute = now.replace(second=0, microsecond=0)  # what the rows show of the time
    body += [Line(row, minute, zone) for row in shown]
    # A list drawn lazily: the browser lays out only the rows on the screen, however many
    # visits are out (bench/alert_latency.py, a board of 300).
    return ft.ListView(body, spacing=GAP * 2, expand=True)


@ft.component
def BoardLine(row: BoardRow, now: datetime, zone: tzinfo) -> ft.Control:
    """One visit out: the state word on its colour, who, where, and the time due back."""
    ticked, set_ticked = ft.use_state(frozenset[int]())
    due = datetime.fromisoformat(row.expected_return) if row.expected_return else None
    colour, word = GO, PHASE_WORDS.get(row.phase, "OUT") if row.phase else "CHECK"
    if row.attention:
        colour, word = CAUTION, "CHECK"
    if due is not None and now >= due:
        colour, word = CAUTION, "LATE"
    if row.overdue is not None:
        colour, word = STOP, "OVERDUE"
    if row.alerts and not row.sounding:
        word = f"{word} · ALERT IN HAND"
    who = "  ·  ".join(f"{v.name} {v.mobile}".strip() for v in row.staff)
    lines: list[ft.Control] = [
        ft.Row([text(word, BIG, ft.FontWeight.BOLD, ON_COLOUR),
                text(f"due back {_local(due, zone)} · {_countdown(due, now)}" if due else "",
                     22, ft.FontWeight.BOLD, ON_COLOUR)],
               alignment=ft.MainAxisAlignment.SPACE_BETWEEN, wrap=True),
        text(who, 22, ft.FontWeight.BOLD, ON_COLOUR),
        text(f"{row.address}" + (f" · {', '.join(row.vehicles)}" if row.vehicles else ""),
             20, colour=ON_COLOUR),
    ]
    if row.last_check_in is not None:
        lines.append(text(f"Last called in {_local(row.last_check_in, zone)}",
                          colour=ON_COLOUR))
    if row.attention:
        lines.append(text(row.attention, colour=ON_COLOUR))
    in_hand = [a for a in row.alerts if a.acknowledged is not None]
    for handled in in_hand[-IN_HAND_SHOWN:]:  # the latest: a row stays a row
        assert handled.acknowledged is not None
        lines.append(text(f"{ALERT_WORDS.get(handled.type, handled.type)} at "
                          f"{_local(handled.at, zone)}: in hand with "
                          f"{handled.acknowledged.by} since "
                          f"{_local(handled.acknowledged.at, zone)}", colour=ON_COLOUR))
    if len(in_hand) > IN_HAND_SHOWN:
        lines.append(text(f"and {len(in_hand) - IN_HAND_SHOWN} earlier alerts, in hand",
                          colour=ON_COLOUR))
    if row.overdue is not None:
        lines.append(text(f"Overdue since {_local(row.overdue.since, zone)}: do this, in "
                          "order", 20, ft.FontWeight.BOLD, ON_COLOUR))
        for number, step in enumerate(row.overdue.escalation, start=1):
            done = number in ticked
            lines.append(ft.Semantics(
                identifier=f"step-{row.visit_id}-{number}", checked=done,
                label=f"Step {number}: {step}", container=True, content=ft.Container(
                    on_click=lambda _=None, n=number, d=done: set_ticked(
                        ticked - {n} if d else ticked | {n}),
                    content=ft.Row([
                        ft.Icon(ft.Icons.CHECK_BOX if done else ft.Icons.CHECK_BOX_OUTLINE_BLANK,
                                color=ON_COLOUR),
                        text(f"{number}. {step}", colour=ON_COLOUR)], wrap=True))))
    return ft.Semantics(identifier=f"row-{row.visit_id}", container=True, label=word,
                        content=ft.Container(content=ft.Column(lines, spacing=4),
                                             bgcolor=colour, padding=16, border_radius=12))


# A row is drawn again only when it, or the minute, changed: an update to one visit of 300
# draws one row (bench/alert_latency.py).
Line: Final[Callable[[BoardRow, datetime, tzinfo], ft.Control]] = ft.memo(  # type: ignore[no-untyped-call]
    BoardLine)


@ft.component
def AlertTakeover(row: BoardRow, alert: Alert, police: str, zone: tzinfo, more: int,
                  name: str, acknowledge: Callable[[BoardRow, Alert, str], None],
                  error: str) -> ft.Control:
    """The whole screen, red: everything reception needs to act, and who is acting."""
    by: Any = ft.use_ref(name)
    raised_by = f"{alert.by.name} {alert.by.mobile}".strip()
    partner = [f"{v.name} {v.mobile}".strip() for v in row.staff if v.name != alert.by.name]
    lines: list[ft.Control] = [
        ft.Row([ft.Icon(ft.Icons.WARNING, color=ON_COLOUR, size=48),
                text(ALERT_WORDS.get(alert.type, alert.type.upper()), 36, ft.FontWeight.BOLD,
                     ON_COLOUR)], wrap=True),
        text(f"at {_local(alert.at, zone)} from {raised_by}", 24, colour=ON_COLOUR),
        text(f"With: {', '.join(partner)}" if partner else "", 22, colour=ON_COLOUR),
        text(f"Where: {row.address or 'no visit out: ask them'}", BIG, ft.FontWeight.BOLD,
             ON_COLOUR),
    ]
    if alert.position is not None:
        lines.append(text(f"The phone's last position: {alert.position[0]:.5f}, "
                          f"{alert.position[1]:.5f}", 22, colour=ON_COLOUR))
    if row.vehicles:
        lines.append(text(f"Vehicle: {', '.join(row.vehicles)}", 22, colour=ON_COLOUR))
    if alert.phrase:
        lines.append(text(f"They will say: “{alert.phrase}”", BIG, ft.FontWeight.BOLD,
                          ON_COLOUR))
    lines.append(text(f"Last heard from the visit at "
                      f"{_local(row.last_heard or alert.at, zone)}", colour=ON_COLOUR))
    lines += [
        ft.Semantics(identifier="police", label=f"Police: {police}", content=text(
            f"Police: {police}", 36, ft.FontWeight.BOLD, ON_COLOUR)),
        text(f"{more} more alert{'s' if more != 1 else ''} after this one" if more else "",
             20, colour=ON_COLOUR),
        ft.Container(bgcolor="#FFFFFF", padding=12, border_radius=12, content=ft.Column([
            ft.Semantics(identifier="acknowledged-by", content=ft.TextField(
                label="Who is dealing with it?", value=by.current, text_size=20,
                on_change=lambda e: setattr(by, "current", e.control.value))),
            button("Acknowledge: I am dealing with it",
                   lambda: acknowledge(row, alert, str(by.current or name)), colour=INFO,
                   ident="acknowledge"),
            text(error, colour=STOP) if error else ft.Container(),
        ], spacing=GAP)),
    ]
    return ft.Semantics(identifier="alert", container=True, label="Alert", content=ft.Container(
        expand=True, bgcolor=STOP, padding=24, content=ft.Column(
            lines, spacing=GAP * 1.5, scroll=ft.ScrollMode.AUTO)))

