"""The domain is the pure core: it imports nothing outside the standard library."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).parents[2] / "fieldapp" / "domain"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_fieldapp_domain_imports_only_the_standard_library_and_itself() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert len(files) > 5
    for path in files:
        for module in imported_modules(path):
            top = module.split(".")[0]
            allowed = top in sys.stdlib_module_names or module.startswith("fieldapp.domain")
            assert allowed, f"{path.name} imports {module}"
