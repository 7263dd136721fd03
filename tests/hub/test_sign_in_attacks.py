"""Console sign-in under attack, on SQLite and PostgreSQL: a stranger guessing a DSL's password
cannot lock the DSL out of her own browser; a flood of sign-ins is answered 503 instead of
taking the hub's memory; text a database cannot keep is refused as a bad request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fieldapp.hub import accounts
from fieldapp.hub.accounts import LOCK_AFTER, Busy, HashGate
from tests.hub.world import PASSWORD, School, World


def sign_in(world: World, school: School, user: str, password: str = PASSWORD,
            device: str = "") -> Any:
    return world.client.post("/api/v1/console/sign-in", json={
        "school_id": school.id, "staff_id": school.staff(user), "password": password,
        "device": device})


def test_guessing_from_elsewhere_never_locks_the_dsl_out_of_her_own_browser(
        world: World, uplands: School) -> None:
    mine = sign_in(world, uplands, "dsl").json()["device"]  # her office browser
    for _ in range(3 * LOCK_AFTER):  # a stranger, from anywhere, without her device token
        assert sign_in(world, uplands, "dsl", "guessing wrongly").status_code == 401
    assert sign_in(world, uplands, "dsl").status_code == 401  # an unknown browser waits
    again = sign_in(world, uplands, "dsl", device=mine)
    assert again.status_code == 200 and again.json()["device"] == mine
    other = sign_in(world, uplands, "reception", device=mine)  # another account's: unknown
    assert other.status_code == 200 and other.json()["device"] != mine


def test_wrong_passwords_from_a_known_browser_lock_only_that_browser(
        world: World, uplands: School) -> None:
    first = sign_in(world, uplands, "dsl").json()["device"]
    second = sign_in(world, uplands, "dsl", device="").json()["device"]
    for _ in range(LOCK_AFTER):
        assert sign_in(world, uplands, "dsl", "guessing wrongly",
                       device=first).status_code == 401
    assert sign_in(world, uplands, "dsl", device=first).status_code == 401
    assert sign_in(world, uplands, "dsl", device=second).status_code == 200
    assert sign_in(world, uplands, "dsl").status_code == 200  # unknown browsers: not locked
    world.accounts.set_password("uplands", uplands.staff("dsl"), PASSWORD)  # an admin's reset
    assert sign_in(world, uplands, "dsl", device=first).status_code == 200


def test_a_forged_or_expired_device_token_counts_as_an_unknown_browser(
        world: World, uplands: School) -> None:
    mine = sign_in(world, uplands, "dsl").json()["device"]
    for _ in range(LOCK_AFTER + 1):
        sign_in(world, uplands, "dsl", "guessing wrongly", device="forged-token")
    assert sign_in(world, uplands, "dsl", device="forged-token").status_code == 401
    world.now += accounts.DEVICE_FOR + accounts.LOCK_FOR
    assert sign_in(world, uplands, "dsl", device=mine).json()["device"] != mine


class Watched:
    """password_matches, counting how many run at once."""

    def __init__(self, seconds: float) -> None:
        self.real, self.seconds = accounts.password_matches, seconds
        self.running = self.most = 0
        self.lock = threading.Lock()

    def __call__(self, password: str, stored: str) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(self.seconds)  # a hash at the real cost takes this long here
            return bool(self.real(password, stored))
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def slow_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watched]:
    watched = Watched(0.2)
    monkeypatch.setattr(accounts, "password_matches", watched)
    yield watched


def test_a_flood_of_sign_ins_is_answered_busy_and_the_hub_stays_up(
        world: World, uplands: School, slow_hashes: Watched) -> None:
    client = TestClient(world.client.app)
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda n: client.post("/api/v1/console/sign-in", json={
            "school_id": "uplands", "staff_id": f"stranger-{n}", "password": "x" * 12}),
            range(24)))
        health = client.get("/api/v1/health")
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) == {401, 503}  # each refused, or told to come back: none waits long
    busy = next(a for a in answers if a.status_code == 503)
    assert busy.json()["error"] == "busy" and busy.headers["Retry-After"] == "2"
    assert slow_hashes.most == accounts.HASHING
    assert health.status_code == 200
    assert sign_in(world, uplands, "dsl").status_code == 200  # and then it signs people in


def test_the_gate_turns_away_a_sign_in_that_would_wait_too_long_or_queue_past_the_end() -> None:
    impatient = HashGate(workers=1, queue=1, wait=0.05)
    with impatient.slot(), pytest.raises(Busy), impatient.slot():  # waits 50 ms, in vain
        pass
    gate = HashGate(workers=1, queue=1, wait=10)
    held, release, through = threading.Event(), threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot():
            held.set()
            release.wait()

    def wait_then_hash() -> None:
        with gate.slot():
            through.set()

    holder, waiter = threading.Thread(target=hold), threading.Thread(target=wait_then_hash)
    holder.start()
    held.wait()
    waiter.start()  # the one place in the queue
    time.sleep(0.05)
    with pytest.raises(Busy, match="many sign-ins"), gate.slot():  # the queue is full
        pass
    release.set()
    holder.join()
    waiter.join()
    assert through.is_set()


@pytest.mark.parametrize("text", ["dsl\x00", "\ud800", "a\x1fb"])
def test_text_no_database_can_keep_is_a_bad_request_not_a_server_error(
        world: World, uplands: School, text: str) -> None:
    client = TestClient(world.client.app, raise_server_exceptions=False)

    def post(path: str, body: dict[str, str], headers: dict[str, str] | None = None) -> Any:
        return client.post(path, content=json.dumps(body), headers={
            "Content-Type": "application/json", **(headers or {})})

    answers = [
        post("/api/v1/console/sign-in", {
            "school_id": text, "staff_id": "uplands-dsl", "password": PASSWORD}),
        post("/api/v1/console/sign-in", {
            "school_id": "uplands", "staff_id": text, "password": PASSWORD}),
        post("/api/v1/enrol", {"code": "ABCDEFGHJK", "device_name": text}),
        post("/api/v1/enrol", {"code": text}),
        post("/api/v1/console/enrol-codes", {"staff_id": text}, uplands.auth("admin")),
    ]
    assert [a.status_code for a in answers] == [422] * len(answers), [a.text for a in answers]
    assert all(a.json()["error"] == "invalid_request" for a in answers)
