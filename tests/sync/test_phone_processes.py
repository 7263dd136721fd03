"""Phones as `fieldapp-phone` processes against a hub served by `fieldapp-hub serve`: a pair's
day arrives at the hub; a phone out of signal loses nothing; a revoked phone wipes itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from fieldapp.hub.events_store import EventStore, connect
from tests.sync.hubs import free_port, wait_for

PIN, DURESS = "28491375", "71930564"


@dataclass
class Served:
    url: str
    db: str
    args: list[str]
    process: subprocess.Popen[bytes]
    slips: dict[str, str]
    port: int

    def hub(self, *command: str) -> str:
        done = subprocess.run([sys.executable, "-m", "fieldapp.hub.cli", *self.args, *command],
                              capture_output=True, text=True, timeout=60, check=True)
        return done.stdout

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)

    def start(self) -> None:
        self.process = serve(self.args, self.port)


def serve(args: list[str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "fieldapp.hub.cli", *args, "serve",
                                "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    wait_for(f"http://127.0.0.1:{port}")
    return process


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    args = ["--db", f"sqlite:///{tmp_path / 'hub.db'}", "--key", str(tmp_path / "hub.key")]
    demo = subprocess.run([sys.executable, "-m", "fieldapp.hub.cli", *args, "demo"],
                          capture_output=True, text=True, timeout=120, check=True).stdout
    slips = {line.split(":")[0].strip(): line.split(":")[1].strip()
             for line in demo.splitlines() if line.startswith(("  Ann", "  Ben"))}
    port = free_port()
    running = Served(f"http://127.0.0.1:{port}", args[1], args, serve(args, port), slips, port)
    yield running
    if running.process.poll() is None:
        running.stop()


def phone(directory: Path, *command: str, offset: float = 0, pin: str = PIN,
          expect: int = 0) -> Any:
    done = subprocess.run(
        [sys.executable, "-m", "fieldapp.sync.phone", "--data", str(directory),
         "--clock-offset", str(offset), *command],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "FIELDAPP_PIN": pin, "FIELDAPP_DURESS_PIN": DURESS})
    assert done.returncode == expect, (done.stdout, done.stderr)
    return json.loads(done.stdout) if done.stdout.strip() else done.stderr


def morning_of(status: dict[str, Any]) -> float:
    """Minutes from now to a quarter of an hour before the first visit: the phone's clock."""
    first = datetime.fromisoformat(status["visits"][0]["scheduled_at"])
    return (first - timedelta(minutes=15) - datetime.now(UTC)) / timedelta(minutes=1)


def test_a_pairs_day_arrives_at_the_hub_and_leaves_the_phones(
        served: Served, tmp_path: Path) -> None:
    ann, ben = tmp_path / "ann", tmp_path / "ben"
    assert phone(ann, "enrol", served.url, served.slips["Ann Patel"], "--kdf-cost", "10")[
        "staff"] == "staff-ann"
    phone(ben, "enrol", served.url, served.slips["Ben Okafor"], "--kdf-cost", "10")
    phone(ann, "sync")
    status = phone(ann, "status")
    assert [v["phase"] for v in status["visits"]] == ["authorised", "authorised"]
    offset = morning_of(status)
    walked = phone(ann, "walk", "--journey", "let-in", offset=offset)
    assert walked["phase"] == "debriefed" and all(s["accepted"] for s in walked["steps"])
    phone(ann, "sync", offset=offset)
    after = phone(ann, "status", offset=offset)
    assert after["waiting"] == 0 and [v["visit_id"] for v in after["visits"]] == [
        status["visits"][1]["visit_id"]]
    # Ben sets out on the second visit and uses the safe phrase at the door.
    phone(ben, "sync", offset=offset)
    second = status["visits"][1]["visit_id"]
    phone(ben, "walk", "--journey", "let-in", "--visit", second, "--until", "arrive",
          offset=offset)
    assert phone(ben, "alert", offset=offset) == {"alert": second}
    phone(ben, "sync", offset=offset)
    held = EventStore(connect(served.db)).visit_events("uplands", second)
    assert [e.type.value for e in held][-3:] == ["signed_out", "arrived", "safe_phrase_used"]
    assert phone(ann, "alert", offset=offset, expect=1).startswith("refused: no visit is out")


def test_a_phone_out_of_signal_loses_nothing_and_says_so(served: Served, tmp_path: Path) -> None:
    ann = tmp_path / "ann"
    phone(ann, "enrol", served.url, served.slips["Ann Patel"], "--kdf-cost", "10")
    phone(ann, "sync")
    offset = morning_of(phone(ann, "status"))
    phone(ann, "walk", "--journey", "no-answer", offset=offset)
    served.stop()
    said = phone(ann, "sync", offset=offset, expect=2)
    assert "no connection to the hub" in said
    status = phone(ann, "status", offset=offset)
    assert status["waiting"] > 0 and "no connection" in status["last_failure"]
    served.start()
    phone(ann, "sync", offset=offset)
    assert phone(ann, "status", offset=offset)["waiting"] == 0


def test_a_revoked_phone_wipes_itself(served: Served, tmp_path: Path) -> None:
    ann = tmp_path / "ann"
    enrolled = phone(ann, "enrol", served.url, served.slips["Ann Patel"], "--kdf-cost", "10")
    served.hub("revoke", "uplands", enrolled["enrolled"])
    said = phone(ann, "sync", expect=4)
    assert "revoked" in said
    assert [path for path in ann.rglob("*") if path.is_file()] == []  # keys and store gone
    assert phone(ann, "status", expect=1).startswith("refused: no phone set up")


def test_a_wrong_pin_or_no_enrolment_is_refused_clearly(served: Served, tmp_path: Path) -> None:
    ann = tmp_path / "ann"
    assert phone(ann, "status", expect=1).startswith("refused: no phone set up")
    phone(ann, "enrol", served.url, served.slips["Ann Patel"], "--kdf-cost", "10")
    assert "refused" in phone(ann, "status", pin="55511199", expect=1)
    assert phone(ann, "enrol", served.url, served.slips["Ann Patel"], expect=1).startswith(
        "refused: this phone is enrolled already")


def test_make_runs_demo_shows_a_phones_day_arriving_at_the_hub(tmp_path: Path) -> None:
    """`make run`'s second half: scripts/demo-day serves the hub and plays Ann's phone."""
    args = ["--db", f"sqlite:///{tmp_path / 'hub.db'}", "--key", str(tmp_path / "hub.key")]
    demo = subprocess.run([sys.executable, "-m", "fieldapp.hub.cli", *args, "demo"],
                          capture_output=True, text=True, timeout=120, check=True).stdout
    (tmp_path / "demo.txt").write_text(demo)
    port = free_port(count=2)  # the hub's, and the field app's after it
    script = Path(__file__).parents[2] / "scripts" / "demo-day"
    running = subprocess.Popen([sys.executable, str(script), *args, "--port", str(port),
                                "--demo", str(tmp_path / "demo.txt"), "--phone",
                                str(tmp_path / "phone")], stdout=subprocess.PIPE, text=True)
    assert running.stdout is not None
    said = ""
    try:
        for line in running.stdout:
            said += line
            if line.startswith("  code "):
                break
        field = httpx.get(f"http://127.0.0.1:{port + 1}/", timeout=10)
        console = httpx.get(f"http://127.0.0.1:{port}/console/", timeout=10)
    finally:
        running.send_signal(signal.SIGINT)
        running.wait(timeout=30)
    assert f"Home Visits hub: http://127.0.0.1:{port}" in said
    assert "1 sealed record reached the hub; the phone kept no personal data" in said
    assert f"The field app, in a browser: http://127.0.0.1:{port + 1}/" in said
    assert f"hub address http://127.0.0.1:{port}" in said
    assert field.status_code == 200 and "flutter" in field.text.lower()
    assert f"The console (reception's live board): http://127.0.0.1:{port}/console/" in said
    assert console.status_code == 200 and "flutter" in console.text.lower()
    held = EventStore(connect(args[1]))
    assert any(e.type.value == "returned" for v in held.visit_ids("uplands")
               for e in held.visit_events("uplands", v))
