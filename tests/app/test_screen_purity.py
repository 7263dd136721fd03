"""Screens hold no policy and touch nothing but the phone's service: no storage, crypto, HTTP
or hub of their own. Every tap goes through fieldapp.app.service."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.unit.test_domain_purity import imported_modules

SCREENS = Path(__file__).parents[2] / "fieldapp" / "screens"
ALLOWED = ("flet", "fieldapp.domain", "fieldapp.screens", "fieldapp.app.service")


def test_screens_import_only_flet_the_domain_and_the_phones_service() -> None:
    files = sorted(SCREENS.glob("*.py"))
    assert len(files) > 5
    for path in files:
        for module in imported_modules(path):
            allowed = module.split(".")[0] in sys.stdlib_module_names or any(
                module == name or module.startswith(f"{name}.") for name in ALLOWED)
            assert allowed, f"{path.name} imports {module}"
