"""A Flet client in memory: the phone app's screens in plain pytest, without Flutter or a
browser (../shared/FLET.md, "Without Flutter").

The app runs in a real `flet.messaging.session.Session` over `FakeClient`, a `Connection`
that does what the Flutter client would do with each message: it encodes it as the web
server does (msgpack, or a control that cannot be sent fails here as it would there); it
answers the methods the app invokes (a route pushed, the clipboard, the dialler) and records
them; and it turns a crash report into a test failure. `Screen` finds controls by their
`Semantics` identifier, as the browser tests do, and taps, holds and types into them.

These are Flet's internal classes: they stay in this one module, so an upgrade of Flet
touches one place.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import flet as ft
import msgpack
from flet.controls.base_control import BaseControl
from flet.controls.context import _context_page, context
from flet.messaging.connection import Connection
from flet.messaging.protocol import (
    Message,
    MessageAction,
    configure_encode_object_for_msgpack,
)
from flet.messaging.session import Session
from flet.pubsub.pubsub_hub import PubSubHub

ENCODE: Final = configure_encode_object_for_msgpack(BaseControl)
# What a phone's client answers for the methods the app invokes, by (control, method).
Answer = Callable[[dict[str, Any]], Any]


class FakeClient(Connection):
    """The other end of the session: what Flutter would have done with each message."""

    def __init__(self, answers: dict[tuple[str, str], Answer]) -> None:
        super().__init__()
        self.loop = asyncio.get_running_loop()
        self.executor = ThreadPoolExecutor(4)
        self.pubsubhub = PubSubHub(loop=self.loop, executor=self.executor)
        self.page_url = "http://phone.test"
        self.session: Session | None = None
        self.answers = answers
        self.calls: list[tuple[str, str, dict[str, Any]]] = []  # (control, method, args)
        self.crashes: list[str] = []

    def send_message(self, message: Message) -> None:
        msgpack.packb([message.action, message.body], default=ENCODE)  # as the server sends
        if message.action == MessageAction.SESSION_CRASHED:
            self.crashes.append(message.body.message)
        elif message.action == MessageAction.INVOKE_METHOD:
            self.loop.call_soon_threadsafe(self._answer, message.body)

    def _answer(self, body: Any) -> None:
        assert self.session is not None
        control = self.session.index.get(body.control_id)
        kind = type(control).__name__
        self.calls.append((kind, body.name, dict(body.args or {})))
        result, error = None, None
        try:
            answer = self.answers.get((kind, body.name))
            result = answer(dict(body.args or {})) if answer else None
        except Exception as refused:  # the client reports an error: the app sees it raised
            error = str(refused) or type(refused).__name__
        self.session.handle_invoke_method_results(body.control_id, body.call_id, result,
                                                  error)
        if (kind, body.name) == ("Page", "push_route"):  # the client follows the route
            route = body.args["route"]
            self.session.apply_page_patch({"route": route})
            self.loop.create_task(self.session.dispatch_event(
                self.session.page._i, "route_change", {"route": route}))

    def dispose(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


def controls(root: Any) -> Iterator[BaseControl]:
    """Every control shown under `root` (a control or a list of them), in the order drawn,
    a component's body included."""
    for top in root if isinstance(root, list) else [root]:
        if getattr(top, "visible", True) is not False:
            yield top
            for child in controls_under(top):
                yield from controls(child)


HANDLERS: Final = ("on_click", "on_tap_down", "on_change", "on_long_press")


def said(control: BaseControl) -> str:
    """What a screen reader says for the control itself, if anything."""
    if isinstance(control, ft.Semantics):
        return str(control.label or "")
    if isinstance(control, ft.TextField):
        return str(control.label or "")
    if isinstance(control, ft.IconButton):
        return str(control.tooltip or "")
    if isinstance(control, ft.FilledButton | ft.OutlinedButton | ft.TextButton):
        return control.content if isinstance(control.content, str) else ""
    return ""


def controls_under(control: BaseControl) -> list[BaseControl]:
    """The controls directly under `control` (through lists, values and a component's
    body), not the ones under those."""
    under: list[BaseControl] = []
    seen: set[int] = {id(control)}

    def look(value: Any) -> None:
        if value is None or id(value) in seen or isinstance(value, str | int | float | bool):
            return
        seen.add(id(value))
        if isinstance(value, BaseControl):
            if getattr(value, "visible", True) is not False:
                under.append(value)
            return
        if dataclasses.is_dataclass(value):
            for field in dataclasses.fields(value):
                if field.name != "_parent" and not field.metadata.get("skip", False):
                    look(getattr(value, field.name, None))
        elif isinstance(value, list | tuple):
            for item in value:
                look(item)
        elif isinstance(value, dict):
            for item in value.values():
                look(item)

    for field in dataclasses.fields(control):
        if field.name != "_parent" and not field.metadata.get("skip", False):
            look(getattr(control, field.name, None))
    return under


class Screen:
    """The app as the fake client holds it: find, read, tap, type."""

    def __init__(self, session: Session, client: FakeClient) -> None:
        self.session, self.client = session, client

    @property
    def page(self) -> ft.Page:
        return self.session.page

    def all(self) -> list[BaseControl]:
        return list(controls(self.page.views))

    def ids(self) -> list[str]:
        return [c.identifier for c in self.all()
                if isinstance(c, ft.Semantics) and c.identifier]

    def find(self, ident: str) -> ft.Semantics | None:
        return next((c for c in self.all()
                     if isinstance(c, ft.Semantics) and c.identifier == ident), None)

    def has(self, ident: str) -> bool:
        return self.find(ident) is not None

    def get(self, ident: str) -> ft.Semantics:
        found = self.find(ident)
        assert found is not None, f"nothing on screen is {ident!r}; there is: {self.ids()}"
        return found

    def words(self, ident: str | None = None) -> str:
        """What a person reads (under `ident`): the text drawn, buttons' words, boxes'
        labels and what was typed in them."""
        root = self.get(ident) if ident else self.page.views
        read = []
        for control in controls(root):
            if isinstance(control, ft.Text) and control.value:
                read.append(str(control.value))
            elif isinstance(control, ft.TextField):
                read += [str(part) for part in (control.label, control.value) if part]
            elif isinstance(control, ft.FilledButton | ft.OutlinedButton | ft.TextButton) \
                    and isinstance(control.content, str):
                read.append(control.content)
        return " ".join(read)

    def unlabelled(self) -> list[str]:
        """Controls a person can use that a screen reader would not name: nothing above
        them or on them says what they do (UX principle 10)."""
        found: list[str] = []

        def walk(control: BaseControl, named: bool) -> None:
            named = named or bool(said(control))
            usable = any(getattr(control, h, None) is not None for h in HANDLERS)
            if usable and not named and not any(  # a button reads out the words on it
                    isinstance(c, ft.Text) and c.value for c in controls(control)):
                found.append(repr(control)[:80])
            for child in controls_under(control):
                walk(child, named)

        for view in self.page.views:
            walk(view, False)
        return found

    def label(self, ident: str) -> str:
        """What a screen reader says for `ident`."""
        return str(self.get(ident).label or "")

    def sees(self, words: str) -> bool:
        return words in self.words()

    def _handler(self, ident: str, event: str) -> BaseControl:
        for control in controls(self.get(ident)):
            if getattr(control, f"on_{event}", None) is not None:
                assert not getattr(control, "disabled", False), f"{ident!r} is disabled"
                return control
        raise AssertionError(f"{ident!r} does not take a {event}")

    async def fire(self, control: BaseControl, event: str, data: Any = None) -> None:
        await self.session.dispatch_event(control._i, event, data)
        await self.settle()

    async def tap(self, ident: str) -> None:
        await self.fire(self._handler(ident, "click"), "click")

    async def hold(self, ident: str, seconds: float) -> None:
        """Press, keep the finger down for `seconds`, let go (a GestureDetector's taps)."""
        target = self._handler(ident, "tap_down")
        await self.fire(target, "tap_down", {"kind": "touch"})
        await asyncio.sleep(seconds)
        await self.fire(target, "tap_up", {"kind": "touch"})

    async def type(self, ident: str, typed: str) -> None:
        """Type into the box under `ident`, then leave it, as the client reports it."""
        box = next(c for c in controls(self.get(ident)) if isinstance(c, ft.TextField))
        self.session.apply_patch(box._i, {"value": typed})
        if box.on_change is not None:
            await self.fire(box, "change", typed)
        if box.on_blur is not None:
            await self.fire(box, "blur")

    async def go(self, route: str) -> None:
        await self.page.push_route(route)
        await self.settle()

    async def settle(self, rounds: int = 8) -> None:
        """Let the redraws, effects and the route change that a tap caused run."""
        for _ in range(rounds):
            await asyncio.sleep(0.005)
        assert not self.client.crashes, self.client.crashes[0]


async def open_app(main: Callable[[ft.Page], Awaitable[None]], *, route: str = "/",
                   answers: dict[tuple[str, str], Answer] | None = None,
                   platform: str = "android") -> Screen:
    """Start `main` on a 360x740 phone whose client answers `answers`."""
    client = FakeClient(dict(answers or {}))
    session = Session(client)
    client.session = session
    session.apply_page_patch({"route": route, "width": 360, "height": 740,
                              "platform": platform, "web": False})
    # The client registers: the page is mounted and sent (encoding it keeps the snapshot
    # that the next patch is worked out from, as the web server's reply does).
    msgpack.packb(session.get_page_patch(), default=ENCODE)
    _context_page.set(session.page)  # as the web server starts a session
    context.reset_auto_update()
    await main(session.page)
    await session.after_event(session.page)
    screen = Screen(session, client)
    OPEN.append(screen)
    await screen.settle()
    return screen


OPEN: list[Screen] = []  # the apps a scenario opened: closed when it ends


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    """Run an async test scenario in a fresh event loop; then close every app it opened, as
    a closed browser tab does (what they watch, they stop watching)."""
    async def closing() -> None:
        try:
            await scenario()
        finally:
            while OPEN:
                screen = OPEN.pop()
                await screen.session.dispatch_event(screen.page._i, "close", None)

    asyncio.run(closing())
