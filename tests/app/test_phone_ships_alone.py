"""The phone app ships without the hub: `flet build` packages only [project] dependencies, so
nothing the app imports may need SQLAlchemy, FastAPI, uvicorn, Alembic, psycopg or flet-web."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[2]
HUB_ONLY = ("sqlalchemy", "fastapi", "uvicorn", "alembic", "psycopg", "flet_web", "starlette")


def test_the_phone_app_imports_nothing_of_the_hub() -> None:
    blocked = ", ".join(repr(name) for name in HUB_ONLY)
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ({blocked},):
            raise ImportError(f'the phone does not ship {{name}}')
sys.meta_path.insert(0, Block())
import fieldapp.app.main, fieldapp.screens.app, fieldapp.sync.loop, main
import fieldapp.sync.phone
print('ok')
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_hub_is_an_extra_and_the_phone_build_is_complete() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    needs = " ".join(project["project"]["dependencies"])
    assert not any(name.replace("_", "-") in needs for name in HUB_ONLY)
    assert "sqlalchemy" in " ".join(project["project"]["optional-dependencies"]["hub"])
    flet = project["tool"]["flet"]
    assert flet["org"] and flet["product"] and flet["app"]["module"] == "main"
    assert (ROOT / "main.py").exists() and "fieldapp/hub" in flet["app"]["exclude"]
    assert flet["android"]["dependencies"] == flet["ios"]["dependencies"] == [
        "cryptography==43.0.1"]
    permissions = flet["android"]["permission"]
    assert permissions["android.permission.ACCESS_NETWORK_STATE"] is True
    assert permissions["android.permission.ACCESS_FINE_LOCATION"] is True
