"""The module `flet build` packages (pyproject's [tool.flet.app]): the app on a phone."""

from __future__ import annotations

from fieldapp.app.main import main

if __name__ == "__main__":  # pragma: no cover - the phone runs it
    main([])
