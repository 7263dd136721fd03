"""The phone's sync against a real hub on a real socket: enrol, push, pull, seal, purge; and
every way a hub or a network can answer badly, each a clear message with nothing lost."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, delete, update

from fieldapp.crypto.sealing import HubKeyPair, decoy_token
from fieldapp.domain import commands as c
from fieldapp.domain.events import EventType
from fieldapp.domain.journeys import Journey, child_at_door, let_in, no_answer
from fieldapp.domain.lifecycle import Phase
from fieldapp.hub.directory import Contacts, devices, hub_meta
from fieldapp.hub.events_store import events
from fieldapp.sync.client import (
    CONFLICT,
    EnrolmentError,
    HubFault,
    NotEnrolled,
    Offline,
    Revoked,
    SyncError,
    check_hub_url,
    enrol,
    enrolment_of,
)
from fieldapp.sync.slip import SlipError, slip_code
from tests.sync.hubs import DSL, Hub, Phone, serve_in_thread, split

DSL_DEVICE = DSL.device_id

SENTINEL = "Sam Sentinel"


@pytest.fixture
def hub(hub_engine: Engine) -> Iterator[Hub]:
    """A hub on SQLite, and on PostgreSQL (tests/sync/conftest.py)."""
    running = serve_in_thread(hub_engine, HubKeyPair.generate())
    yield running
    running.stop()


def pair(hub: Hub, tmp_path: Path) -> tuple[Phone, Phone]:
    return (Phone(tmp_path / "ann").enrol(hub, "staff-ann"),
            Phone(tmp_path / "ben").enrol(hub, "staff-ben"))


class Recording(httpx.BaseTransport):
    """The real network, with a hook that sees (and may change) each exchange."""

    def __init__(self, hook: Callable[[httpx.Request, Callable[[], httpx.Response]],
                                      httpx.Response] | None = None) -> None:
        self.inner = httpx.HTTPTransport()
        self.hook = hook
        self.seen: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.hook is None:
            return self.inner.handle_request(request)
        return self.hook(request, lambda: self.inner.handle_request(request))


def body_of(request: httpx.Request) -> Any:
    return json.loads(gzip.decompress(request.content))


# --- enrolment -----------------------------------------------------------------------------

def test_a_phone_enrols_with_the_slip_and_keeps_everything_encrypted(
        hub: Hub, tmp_path: Path) -> None:
    phone = Phone(tmp_path / "ann").enrol(hub, "staff-ann")
    enrolment = enrolment_of(phone.repository)
    assert enrolment is not None and enrolment.hub_key == hub.keys.public_bytes()
    assert phone.pack.id == "uplands-junior"
    phone.repository.compact()
    token = enrolment.token.encode()
    for path in (tmp_path / "ann").rglob("*"):
        if path.is_file():
            assert token not in path.read_bytes() and b"uplands-junior" not in path.read_bytes()


def test_a_hub_key_that_is_not_the_slips_is_refused(hub: Hub, tmp_path: Path) -> None:
    """A TLS-inspecting proxy answers with its own key: the check on the paper catches it."""
    code = hub.directory.enrol_code("uplands", "staff-ann", datetime.now(UTC))
    impostor = slip_code(code, HubKeyPair.generate().public_bytes())
    phone = Phone(tmp_path / "ann")
    with pytest.raises(EnrolmentError, match="not the one on the slip"):
        enrol(phone.repository, hub.url, impostor)
    assert enrolment_of(phone.repository) is None


def test_a_wrong_or_used_code_is_refused_clearly(hub: Hub, tmp_path: Path) -> None:
    slip = hub.slip("staff-ann")
    enrol(Phone(tmp_path / "one").repository, hub.url, slip)
    with pytest.raises(EnrolmentError, match="not valid"):
        enrol(Phone(tmp_path / "two").repository, hub.url, slip)
    with pytest.raises(SlipError, match="36 letters and digits"):
        enrol(Phone(tmp_path / "three").repository, hub.url, "ABCD-EFGH")


def test_an_enrolment_whose_answer_is_lost_is_asked_for_again(hub: Hub, tmp_path: Path) -> None:
    def lose_the_answer(request: httpx.Request, send: Callable[[], httpx.Response]
                        ) -> httpx.Response:
        send()  # the hub enrolled the phone; the answer never arrives
        raise httpx.ReadError("connection reset")

    phone = Phone(tmp_path / "ann")
    slip = hub.slip("staff-ann")
    with pytest.raises(Offline):
        enrol(phone.repository, hub.url, slip, transport=Recording(lose_the_answer))
    enrolment = enrol(phone.repository, hub.url, slip)  # the same code, asked again
    assert [d["device_id"] for d in hub.directory.devices("uplands")] == [enrolment.device_id]


@pytest.mark.parametrize(("url", "fine"), [
    ("https://hub.school.example", True), ("http://127.0.0.1:8080", True),
    ("http://localhost:8080", True), ("http://[::1]:8080", True),
    ("http://hub.school.example", False), ("http://10.0.0.5", False), ("ftp://hub", False),
    ("hub.school.example", False),
])
def test_plain_http_only_to_this_machine(url: str, fine: bool) -> None:
    if fine:
        assert check_hub_url(url + "/some/path") == url
    else:
        with pytest.raises(SyncError, match="https://"):
            check_hub_url(url)


# --- push, pull, seal, purge ---------------------------------------------------------------

SETTING_OUT = split(let_in)[0]


@pytest.mark.parametrize("journey", [let_in, no_answer, child_at_door])
def test_a_pairs_visit_reaches_the_hub_whole_and_leaves_the_phones(
        hub: Hub, tmp_path: Path, journey: Journey) -> None:
    hub.plan("visit-1")
    ann, ben = pair(hub, tmp_path)
    for phone in (ann, ben):
        phone.client.sync()
        assert phone.state("visit-1").phase is Phase.AUTHORISED
    setting_out, the_rest = split(journey)
    ann.walk("visit-1", setting_out)
    ann.client.sync()
    ben.client.sync()
    assert ben.state("visit-1").phase is Phase.ARRIVED
    ben.do("visit-1", c.CheckIn("with Ann at the door"))
    ben.client.sync()
    ann.walk("visit-1", the_rest)
    recorded = {e.id for e in ann.repository.events("visit-1")} | {
        e.id for e in ben.repository.events("visit-1")}
    report = ann.client.sync()
    assert report.sealed == 1 and report.records_sent == 1
    held = hub.events("visit-1")
    assert {e.id for e in held} == recorded | {e.id for e in held if e.author.device_id ==
                                              "hub-console"}
    assert len(held) == len({e.id for e in held})
    assert ann.repository.visit_ids() == () and "visit-1" in ann.repository.receipts()
    ann.client.sync()  # a later pull does not bring it back
    assert ann.repository.visit_ids() == ()
    ben.client.sync()
    assert ben.repository.visit_ids() == ()  # ben's too, once all of it is acknowledged
    assert ann.client.status().waiting == 0 and ann.client.status().last_failure is None
    ann.repository.compact()
    for path in (tmp_path / "ann").rglob("*"):
        if path.is_file():
            for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
                assert SENTINEL.encode(encoding) not in path.read_bytes()


def test_alerts_go_first_alone_and_marked_urgent(hub: Hub, tmp_path: Path) -> None:
    hub.plan("visit-1")
    network = Recording()
    ann = Phone(tmp_path / "ann", transport=network).enrol(hub, "staff-ann")
    ann.client.sync()
    ann.walk("visit-1", SETTING_OUT)
    for _ in range(5):
        ann.do("visit-1", c.CheckIn("on the way"))
    ann.do("visit-1", c.UseSafePhrase())  # after a backlog: it still goes first
    network.seen.clear()
    ann.client.sync()
    pushes = [r for r in network.seen if r.url.path == "/api/v1/push"]
    assert pushes[0].headers.get("priority") == "u=0"
    assert [e["type"] for e in body_of(pushes[0])["events"]] == ["safe_phrase_used"]
    assert all("priority" not in r.headers for r in pushes[1:])
    assert pushes[0].headers["content-encoding"] == "gzip"


def test_a_batch_too_large_for_the_hub_is_halved(hub: Hub, tmp_path: Path) -> None:
    def small_hub(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if request.url.path == "/api/v1/push" and len(body_of(request)["events"]) > 3:
            return httpx.Response(413, json={"error": "too_large", "message": "at most 1 MiB"})
        return send()

    hub.plan("visit-1")
    ann = Phone(tmp_path / "ann", transport=Recording(small_hub)).enrol(hub, "staff-ann")
    ann.client.sync()
    ann.walk("visit-1", let_in)
    mine = {e.id for e in ann.repository.events("visit-1") if e.author == ann.author}
    ann.client.sync()
    assert mine <= {e.id for e in hub.events("visit-1")}


def test_what_the_hub_refuses_waits_aside_and_never_blocks_the_rest(
        hub: Hub, tmp_path: Path) -> None:
    hub.plan("visit-1")
    ann, _ben = pair(hub, tmp_path)
    ann.client.sync()
    ann.walk("visit-1", SETTING_OUT)
    ann.do("visit-1", c.CheckIn("fine"))  # recorded here, but the hub...
    (good,) = [e for e in ann.repository.unsynced() if e.type is EventType.CHECKED_IN]
    clash = type(good)(id=good.id, visit_id=good.visit_id, type=EventType.CHECKED_IN,
                       at=good.at, author=good.author, payload={"note": "other words"})
    with hub.engine.begin() as connection:  # ...already holds that id with other content
        connection.execute(events.insert().values(
            id=clash.id, school_id="uplands", visit_id="visit-1", type="checked_in",
            device_id=ann.author.device_id, body=json.dumps(clash.to_dict())))
    ann.do("visit-1", c.RaiseConcern("other", "seen from the car"))
    ann.client.sync()
    status = ann.client.status()
    assert status.quarantined == ((good.id, CONFLICT),) and status.waiting == 0
    assert any(e.type is EventType.CONCERN_RAISED for e in hub.events("visit-1"))


def test_a_database_restored_from_an_older_backup_is_made_whole_again(
        hub: Hub, tmp_path: Path) -> None:
    hub.plan("visit-1")
    ann, _ben = pair(hub, tmp_path)
    ann.client.sync()
    ann.walk("visit-1", SETTING_OUT)
    ann.do("visit-1", c.CheckIn("at the door"))  # live: not back at school yet
    mine = {e.id for e in ann.repository.events("visit-1") if e.author == ann.author}
    ann.client.sync()
    # The hub is restored from a backup taken before ann synced: a new database name.
    with hub.engine.begin() as connection:
        connection.execute(delete(events).where(events.c.device_id == ann.author.device_id))
        connection.execute(update(hub_meta).values(value="restored-from-backup"))
    assert not mine & {e.id for e in hub.events("visit-1")}
    report = ann.client.sync()
    assert report.restarted and mine <= {e.id for e in hub.events("visit-1")}


def test_the_schools_contacts_and_a_new_pack_reach_the_phone(hub: Hub, tmp_path: Path) -> None:
    ann = Phone(tmp_path / "ann").enrol(hub, "staff-ann")
    contacts = Contacts("01902 000111", "01902 000222", "07700 900999", "08:00-16:00")
    hub.directory.set_contacts("uplands", contacts, datetime.now(UTC))
    text = ann.repository.get("pack").replace("January 2024", "January 2027", 1)
    hub.directory.import_pack("uplands", text, datetime.now(UTC))
    ann.client.sync()
    assert ann.repository.get("contacts")["reception_phone"] == "01902 000111"
    assert "January 2027" in ann.repository.get("pack")


# --- a hub or a network that answers badly --------------------------------------------------

BAD_ANSWERS = {
    "html": httpx.Response(200, html="<html>Sign in to the hotel wifi</html>"),
    "garbage": httpx.Response(200, content=b"\x00\xff garbage"),
    "a list": httpx.Response(200, json=[1, 2, 3]),
    "hub error": httpx.Response(500, json={"error": "internal", "message": "oops"}),
    "proxy error": httpx.Response(502, text="Bad Gateway"),
}


@pytest.mark.parametrize("answer", sorted(BAD_ANSWERS))
@pytest.mark.parametrize("path", ["/api/v1/push", "/api/v1/pull", "/api/v1/sealed/envelopes"])
def test_a_bad_answer_is_a_clear_failure_and_loses_nothing(
        hub: Hub, tmp_path: Path, answer: str, path: str) -> None:
    hub.plan("visit-1")

    def spoil(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        return BAD_ANSWERS[answer] if request.url.path == path and spoiling else send()

    spoiling = False
    ann = Phone(tmp_path / "ann", transport=Recording(spoil)).enrol(hub, "staff-ann")
    ann.client.sync()
    ann.walk("visit-1", let_in)
    before = ann.repository.unsynced()
    spoiling = True
    with pytest.raises(HubFault) as failed:
        ann.client.sync()
    assert "it will try again" in failed.value.say or "unexpected" in failed.value.say
    assert ann.client.status().last_failure == failed.value.say
    if path == "/api/v1/push":
        assert ann.repository.unsynced() == before
    spoiling = False
    ann.client.sync()
    assert ann.client.status().waiting == 0 and ann.client.status().last_failure is None


@pytest.mark.parametrize("failure", [httpx.ReadError("cut"), httpx.ConnectError("refused"),
                                     httpx.ReadTimeout("slow"),
                                     httpx.RemoteProtocolError("body cut short")])
def test_a_connection_that_fails_loses_nothing(hub: Hub, tmp_path: Path,
                                               failure: Exception) -> None:
    hub.plan("visit-1")
    cut = {"on": False}

    def flaky(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if cut["on"]:
            send()  # it may even have reached the hub
            raise failure
        return send()

    ann = Phone(tmp_path / "ann", transport=Recording(flaky)).enrol(hub, "staff-ann")
    ann.client.sync()
    ann.walk("visit-1", let_in)
    cut["on"] = True
    with pytest.raises(Offline):
        ann.client.sync()
    cut["on"] = False
    ann.client.sync()
    held = hub.events("visit-1")
    assert len(held) == len({e.id for e in held})  # nothing twice
    assert ann.client.status().waiting == 0


def test_a_revoked_phone_wipes_itself_and_an_unknown_one_does_not(
        hub: Hub, tmp_path: Path) -> None:
    ann, ben = pair(hub, tmp_path)
    hub.directory.revoke("uplands", ann.author.device_id, datetime.now(UTC))
    with pytest.raises(Revoked):
        ann.client.sync()
    assert ann.wiped and ann.client.status().last_failure == "revoked"
    enrolment = enrolment_of(ben.repository)
    assert enrolment is not None
    ben.repository.set("enrolment", {**asdict(enrolment), "token": "not-a-token"})
    with pytest.raises(NotEnrolled, match="enrol it again"):
        ben.client.sync()
    assert not ben.wiped


def test_a_phone_not_enrolled_cannot_sync(tmp_path: Path) -> None:
    with pytest.raises(NotEnrolled, match="not enrolled"):
        Phone(tmp_path / "new").client.sync()


def test_the_hubs_key_is_pinned_whole(hub: Hub, tmp_path: Path) -> None:
    ann = Phone(tmp_path / "ann").enrol(hub, "staff-ann")
    kept = enrolment_of(ann.repository)
    assert kept is not None
    assert base64.b64decode(kept.hub_public_key) == hub.keys.public_bytes()


def test_a_visit_cancelled_at_school_is_dropped_from_the_phone(hub: Hub, tmp_path: Path) -> None:
    """Nothing of this phone's is in it: no record to seal, it just leaves the phone."""
    hub.plan("visit-1")
    ann = Phone(tmp_path / "ann").enrol(hub, "staff-ann")
    ann.client.sync()
    assert ann.repository.visit_ids() == ("visit-1",)
    hub.cancel("visit-1")
    report = ann.client.sync()
    assert ann.repository.visit_ids() == () and report.sealed == 0
    assert ann.repository.receipts()["visit-1"]["record_id"] == ""


def test_a_hub_gone_back_behind_the_phones_cursor_is_noticed_without_a_new_name(
        hub: Hub, tmp_path: Path) -> None:
    """A restore that kept the database's name: the hub's newest position is behind what the
    phone has seen, so it starts again and pushes again what the hub lost."""
    hub.plan("visit-1")
    ann, ben = pair(hub, tmp_path)
    ben.client.sync()
    ann.client.sync()
    ann.walk("visit-1", SETTING_OUT)
    ann.client.sync()
    ben.client.sync()
    ben.do("visit-1", c.CheckIn("with Ann"))
    ben.client.sync()
    ann.client.sync()  # ann's cursor is now past ben's check-in
    mine = {e.id for e in ann.repository.events("visit-1") if e.author == ann.author}
    with hub.engine.begin() as connection:  # back to before either phone synced
        connection.execute(delete(events).where(events.c.device_id != DSL_DEVICE))
    report = ann.client.sync()
    assert report.restarted and mine <= {e.id for e in hub.events("visit-1")}


def test_a_phone_the_hub_lost_enrols_again_and_keeps_what_it_recorded(
        hub: Hub, tmp_path: Path) -> None:
    hub.plan("visit-1")
    ann = Phone(tmp_path / "ann").enrol(hub, "staff-ann")
    ann.client.sync()
    ann.walk("visit-1", SETTING_OUT)
    before = ann.author.device_id
    with hub.engine.begin() as connection:  # restored from before the phone enrolled
        connection.execute(delete(devices))
    with pytest.raises(NotEnrolled):
        ann.client.sync()
    enrol(ann.repository, hub.url, hub.slip("staff-ann"))
    assert ann.author.device_id == before  # the same device: its events are its own
    ann.client.sync()
    assert ann.client.status().settled


def test_a_hub_restored_from_a_real_backup_gets_back_what_phones_sent_since(
        hub: Hub, tmp_path: Path) -> None:
    """`fieldapp-hub backup`, more work from a phone, the hub lost, `fieldapp-hub restore` of
    the older backup into a new database, served where the old one was: the phone notices and
    sends again all it holds, and the hub has it all."""
    from fieldapp.hub.backup import backup, restore
    from fieldapp.hub.events_store import open_hub
    from tests.postgres import fresh_database

    hub.plan("visit-1")
    ann, _ben = pair(hub, tmp_path)
    ann.client.sync()
    written, _ = backup(hub.engine.url.render_as_string(hide_password=False),
                        tmp_path / "backups", datetime.now(UTC))
    ann.walk("visit-1", SETTING_OUT)
    ann.do("visit-1", c.CheckIn("at the door"))
    ann.client.sync()
    since = {e.id for e in ann.repository.events("visit-1")}
    port = hub.stopped()
    with ExitStack() as cleanup:
        if hub.engine.dialect.name == "sqlite":
            url = f"sqlite:///{tmp_path / 'restored.db'}"
        else:
            url = cleanup.enter_context(fresh_database("sync_restored"))
        restore(written, url, [hub.keys])
        engine = open_hub(url)
        cleanup.callback(engine.dispose)
        restored = serve_in_thread(engine, hub.keys, port)
        cleanup.callback(restored.stop)
        assert not since <= {e.id for e in restored.events("visit-1")}
        report = ann.client.sync()
        assert report.restarted and since <= {e.id for e in restored.events("visit-1")}


def test_a_key_rotation_loses_nothing_sealed_to_the_old_key_and_keeps_each_phone(
        hub: Hub, tmp_path: Path) -> None:
    """The documented rotation: a phone has a record sealed to the old key that has not
    reached the hub; the hub is restarted with a new key and the old one retired; the record
    still arrives and opens; the phone is enrolled again with a new slip, keeps its device and
    what it holds, and seals to the new key from then on. Nothing is wiped."""
    from fieldapp.hub.records import SealedStore

    hub.plan("visit-1")
    hub.plan("visit-2")

    def no_records(request: httpx.Request, send: Callable[[], httpx.Response]
                   ) -> httpx.Response:
        if request.url.path.startswith("/api/v1/sealed"):
            raise httpx.ConnectError("the records' upload failed")
        return send()

    ann = Phone(tmp_path / "ann", transport=Recording(no_records)).enrol(hub, "staff-ann")
    device = ann.author.device_id
    ann.client.sync()
    ann.walk("visit-1", let_in)
    with pytest.raises(Offline):  # the record is sealed to the old key, and waits
        ann.client.sync()
    old = hub.keys
    port = hub.stopped()
    new = HubKeyPair.generate()  # `fieldapp-hub rotate-key`, then serve --retired-key
    rotated = serve_in_thread(hub.engine, new, port, retired=(old,))
    ann.client.transport = None  # the network is back
    try:
        assert ann.client.sync().records_sent == 1  # taken: the hub holds the old key
        enrol(ann.repository, rotated.url, rotated.slip("staff-ann"))  # a new slip
        assert ann.author.device_id == device  # the same phone, its records its own
        enrolment = enrolment_of(ann.repository)
        assert enrolment is not None and enrolment.hub_key == new.public_bytes()
        ann.walk("visit-2", let_in)
        assert ann.client.sync().records_sent == 1
        sealed = SealedStore(hub.engine, new, (old,))
        keys = {sealed.for_visit("uplands", v)[0].hub_key for v in ("visit-1", "visit-2")}
        assert keys == {old.fingerprint(), new.fingerprint()}
        for visit_id in ("visit-1", "visit-2"):
            stored = sealed.for_visit("uplands", visit_id)[0]
            assert sealed.open("uplands", stored).visit_id == visit_id
        assert [d["device_id"] for d in rotated.directory.devices("uplands")] == [device]
        assert not ann.wiped
    finally:
        rotated.stop()


def test_unlock_tokens_go_first_and_stay_until_the_hub_takes_them(hub: Hub,
                                                                  tmp_path: Path) -> None:
    refusing = True

    def refuse(request: httpx.Request, send: Callable[[], httpx.Response]) -> httpx.Response:
        if refusing and request.url.path == "/api/v1/push" and "unlocks" in body_of(request):
            return httpx.Response(400, json={"error": "bad_push", "message": "not today"})
        return send()

    transport = Recording(refuse)
    ann = Phone(tmp_path / "ann", transport=transport).enrol(hub, "staff-ann")
    tokens = (decoy_token(), decoy_token())
    for token in tokens:
        ann.repository.record_unlock(token)
    with pytest.raises(HubFault, match="the hub refused a push \\(400\\): not today"):
        ann.client.sync()
    assert ann.repository.unlocks() == tokens
    refusing = False
    transport.seen.clear()
    ann.client.sync()
    assert ann.repository.unlocks() == ()
    first = body_of(transport.seen[0])
    assert transport.seen[0].headers["Priority"] == "u=0" and first["events"] == []
    assert [base64.b64decode(t) for t in first["unlocks"]] == list(tokens)
