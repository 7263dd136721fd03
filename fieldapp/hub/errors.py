"""The one error every hub route raises: answered as `{"error": ..., "message": ..., ...}`."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError


class HubError(Exception):
    def __init__(self, status: int, error: str, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.extra = status, error, extra
        self.headers = dict(headers or {})
        if status == 401:
            self.headers["WWW-Authenticate"] = "Bearer"


def database_unavailable(engine: Engine, error: BaseException) -> HubError | None:
    """The 503 to answer if `error` is the database not answering (refusing connections, gone
    away, out of disk, locked for too long), by SQLAlchemy or by the driver the push path runs
    on; the pool's connections are let go, so the next request connects afresh and the hub
    recovers by itself once the database is back. None for any other error."""
    if not isinstance(error, (OperationalError, engine.dialect.loaded_dbapi.OperationalError)):
        return None
    engine.dispose()
    return HubError(503, "database_unavailable", "the hub's database is not answering: "
                    "nothing changed; try again shortly", headers={"Retry-After": "5"})
