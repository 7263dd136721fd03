"""The one error every hub route raises: answered as `{"error": ..., "message": ..., ...}`."""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    def __init__(self, status: int, error: str, message: str,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.error, self.extra = status, error, extra
        self.headers = dict(headers or {})
        if status == 401:
            self.headers["WWW-Authenticate"] = "Bearer"
