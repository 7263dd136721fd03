"""An access log with nobody in it: `serve --access-log` writes one line per request to the
logger `fieldapp.hub.access` (stderr; under systemd, the journal).

A line says when, the method, the route as written in the API (`/api/v1/console/visits/
{visit_id}`, never the visit id itself), the status and how long it took. It leaves out what
could name or follow a person: the client's address, the query string, the user agent, the
referrer, any header or token, any id in the path, and every body.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any, Final

from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LOGGER: Final = logging.getLogger("fieldapp.hub.access")


class AccessLog:
    def __init__(self, app: ASGIApp, logger: logging.Logger = LOGGER) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless an answer starts

        async def answering(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, answering)
        finally:
            self.logger.info("%s %s %s %d %.0fms", datetime.now(UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"), scope["method"], route_of(scope, status), status,
                (time.perf_counter() - started) * 1000)


def route_of(scope: Scope, status: int) -> str:
    """The route the request matched, as written in the API (`/api/v1/console/visits/
    {visit_id}`); a mounted app's files as its mount (`/console/…`); `(no route)` for a path
    the hub does not have (its text is not logged: it could be anything)."""
    route: Any = scope.get("route")
    path, template = str(scope.get("path", "")), getattr(route, "path_format", None)
    if template and not isinstance(route, Mount):
        # The route's own template ends the path; what comes before is a router's prefix.
        params = {name: str(value) for name, value in scope.get("path_params", {}).items()}
        try:
            filled = template.format(**params)
        except (KeyError, IndexError, ValueError):
            filled = None
        if filled is not None and path.endswith(filled):
            return f"{path[:len(path) - len(filled)]}{template}"
    if status == 404 or not path.startswith("/") or path.count("/") < 2:
        return "(no route)"
    return f"/{path.split('/')[1]}/…"  # a mounted app's files: the console's screens
