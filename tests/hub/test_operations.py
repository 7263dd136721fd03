"""Running a hub for real: only `init` makes a database and only `migrate` changes its schema;
a missing, empty or differently migrated database is refused with what to do, unchanged; one
SQLite file takes one `serve`, and `migrate` waits for none.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from fieldapp.hub import migrate
from fieldapp.hub.cli import main
from fieldapp.hub.events_store import connect, open_hub
from fieldapp.hub.running import HubBusy, serving, stopped
from tests.hub.outage import Relay
from tests.hub.world import World
from tests.postgres import fresh_database

# Every command that works on an existing hub, with what it needs to get as far as the database.
ON_A_HUB: list[list[str]] = [
    ["school", "add", "uplands", "--name", "Uplands", "--pack", "uplands-junior"],
    ["staff", "add", "uplands", "ann", "--name", "Ann", "--role", "staff"],
    ["staff", "password", "uplands", "ann"],
    ["staff", "pack-roles", "uplands", "ann"],
    ["enrol-code", "uplands", "ann"],
    ["contacts", "uplands", "--reception", "01902 000111"],
    ["revoke", "uplands", "dev-1"],
    ["pack", "import", str(Path(__file__).parents[2] / "fieldapp" / "policies" /
                           "uplands-junior.toml"), "--school", "uplands"],
    ["serve", "--port", "0"],
]


@pytest.fixture
def where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A hub's database and key, the key made already (so only the database is at issue)."""
    from fieldapp.hub.cli import hub_keys

    hub_keys(tmp_path / "hub.key", create=True)
    monkeypatch.setattr("fieldapp.hub.cli.serve_forever", lambda *args: None)
    monkeypatch.setattr("sys.stdin.readline", lambda: "a long enough password\n")
    return ["--db", f"sqlite:///{tmp_path / 'hub.db'}", "--key", str(tmp_path / "hub.key")]


@pytest.mark.parametrize("command", [*ON_A_HUB, ["migrate"]], ids=lambda c: " ".join(c[:2]))
def test_a_command_on_a_missing_database_makes_none(
        where: list[str], tmp_path: Path, command: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*where, *command]) == 1
    assert "no hub database at" in capsys.readouterr().err
    assert not (tmp_path / "hub.db").exists()


@pytest.mark.parametrize("command", [*ON_A_HUB, ["migrate"]], ids=lambda c: " ".join(c[:2]))
def test_a_command_on_an_empty_database_refuses_it_and_leaves_it_empty(
        where: list[str], tmp_path: Path, command: list[str],
        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "hub.db").touch()
    assert main([*where, *command]) == 1
    assert "holds no hub: it is empty. `fieldapp-hub init` makes a new hub" in (
        capsys.readouterr().err)
    assert (tmp_path / "hub.db").stat().st_size == 0
    assert main([*where, "init"]) == 0  # init makes a hub of it
    assert migrate.current(connect(where[1], upgrade=False)) == migrate.HEAD


@pytest.mark.parametrize("command", ON_A_HUB, ids=lambda c: " ".join(c[:2]))
def test_only_migrate_upgrades_an_older_schema(
        where: list[str], command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*where, "init"]) == 0
    migrate.downgrade(connect(where[1], upgrade=False), "0003")
    capsys.readouterr()
    assert main([*where, *command]) == 1
    said = capsys.readouterr().err
    assert "has its schema at revision 0003, and this hub runs on" in said
    assert "then run `fieldapp-hub migrate`" in said
    assert main([*where, "init"]) == 1  # init keeps a hub as it is: it migrates nothing either
    engine = connect(where[1], upgrade=False)
    assert migrate.current(engine) == "0003"
    assert main([*where, "migrate"]) == 0
    assert migrate.current(engine) == migrate.HEAD


def test_a_schema_from_newer_hub_software_is_refused_by_every_command(
        where: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*where, "init"]) == 0
    engine = connect(where[1], upgrade=False)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
    for command in [*ON_A_HUB, ["init"], ["migrate"]]:
        assert main([*where, *command]) == 1, command
        assert "0099" in capsys.readouterr().err
    assert migrate.current(engine) == "0099"


def test_one_sqlite_file_takes_one_serve_and_migrate_waits_for_none(
        where: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*where, "init"]) == 0
    engine = open_hub(where[1])
    with serving(engine):
        assert main([*where, "serve", "--port", "0"]) == 1
        assert "another hub is serving" in capsys.readouterr().err
        assert main([*where, "migrate"]) == 1
        said = capsys.readouterr().err
        assert "a hub is serving" in said and "stop every `fieldapp-hub serve` first" in said
    assert main([*where, "migrate"]) == 0  # the serve that held it has stopped
    with stopped(engine, "migrate"), pytest.raises(HubBusy, match="being migrated or "
                                                   "restored"), serving(engine):
        pass
    in_memory = connect("sqlite://")  # a test's hub: no file, so no lock beside it
    with serving(in_memory), serving(in_memory), stopped(in_memory, "migrate"):
        pass
    with serving(engine):  # and once the migration is over, a hub serves again
        pass


@pytest.fixture
def postgres_hub() -> Iterator[Any]:
    with fresh_database("hub_running") as url:
        engine = connect(url)
        yield engine
        engine.dispose()


def test_on_postgresql_many_serve_and_migrate_waits_for_all_to_stop(postgres_hub: Any) -> None:
    engine = postgres_hub
    other = connect(engine.url.render_as_string(hide_password=False), upgrade=False)
    with serving(engine), serving(other), pytest.raises(  # two workers, as a trust runs them
            HubBusy, match="a hub is serving"), stopped(engine, "migrate"):
        pass
    with stopped(engine, "migrate"), pytest.raises(
            HubBusy, match="being migrated or restored"), serving(other):
        pass
    with serving(other):
        pass
    other.dispose()


def test_a_database_outage_is_answered_503_in_json_and_the_hub_recovers_by_itself(
        relayed: tuple[Engine, Relay]) -> None:
    engine, relay = relayed
    world = World(engine)
    uplands = world.schools["uplands"]
    client = TestClient(world.client.app, raise_server_exceptions=False)
    assert client.get("/api/v1/health").json() == {"status": "ok", "protocol": 1,
                                                     "database": "ok"}
    relay.cut()
    health = client.get("/api/v1/health")
    assert health.status_code == 503 and health.json() == {
        "status": "degraded", "protocol": 1, "database": "unavailable"}
    for method, path, headers, body in (
            ("POST", "/api/v1/push", uplands.phone(), {"protocol": 1, "events": []}),
            ("GET", "/api/v1/pull", uplands.phone(), None),
            ("GET", "/api/v1/console/board", uplands.auth("reception"), None),
            ("GET", f"/api/v1/console/visits/{uplands.out}", uplands.auth("dsl"), None)):
        answer = client.request(method, path, headers=headers, json=body)
        assert answer.status_code == 503, (path, answer.text)
        assert answer.json()["error"] == "database_unavailable", path
        assert "try again" in answer.json()["message"] and answer.headers["Retry-After"] == "5"
    relay.mend()  # the database is back: the very next request is served
    assert client.get("/api/v1/pull", headers=uplands.phone()).status_code == 200
    assert client.get("/api/v1/health").json()["status"] == "ok"


def test_a_bug_is_answered_500_in_json_without_its_details(world: World) -> None:
    app = world.client.app

    def broken() -> None:  # a route with a bug, beside the hub's own
        raise LookupError("a detail that is nobody's business")

    app.add_api_route("/api/v1/broken", broken)  # type: ignore[attr-defined]
    answer = TestClient(app, raise_server_exceptions=False).get("/api/v1/broken")
    assert answer.status_code == 500 and answer.json()["error"] == "internal"
    assert "nobody" not in answer.text


def test_the_access_log_names_routes_and_nobody(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    from fieldapp.console.app import mount_console
    from fieldapp.hub.api import create_api

    app = create_api(world.engine, world.keys, clock=lambda: world.now, access_log=True)
    mount_console(app)
    uplands = world.schools["uplands"]
    with caplog.at_level("INFO", logger="fieldapp.hub.access"), TestClient(
            app, raise_server_exceptions=False) as client:  # its start and stop: no lines
        client.get(f"/api/v1/console/visits/{uplands.out}?child=Sam+Sentinel",
                   headers=uplands.auth("dsl") | {"User-Agent": "Sam's phone"})
        client.get("/api/v1/no/Sam-Sentinel")
        client.get("/console/")
        client.post("/api/v1/push", headers=uplands.phone(), json={"protocol": 1,
                                                                   "events": []})
    lines = [record.getMessage() for record in caplog.records]
    assert [line.split(" ", 1)[1] for line in lines] == [
        "GET /api/v1/console/visits/{visit_id} 200 " + lines[0].rsplit(" ", 1)[1],
        "GET (no route) 404 " + lines[1].rsplit(" ", 1)[1],
        "GET /console/… 200 " + lines[2].rsplit(" ", 1)[1],
        "POST /api/v1/push 200 " + lines[3].rsplit(" ", 1)[1]]
    logged = "\n".join(lines)
    for private in ("Sam", "Sentinel", uplands.out, "testclient", uplands.device["token"],
                    uplands.tokens["dsl"]):
        assert private not in logged


def test_an_error_logged_by_the_database_layer_carries_no_values(world: World) -> None:
    from sqlalchemy.exc import IntegrityError

    from fieldapp.hub.directory import schools

    with pytest.raises(IntegrityError) as raised, world.engine.begin() as connection:
        connection.execute(schools.insert().values(id="uplands", name="Sam Sentinel's school",
                                                   pack_id="uplands-junior"))
    assert "Sam Sentinel" not in str(raised.value)


@pytest.mark.parametrize(("path", "params", "status", "logged"), [
    ("/api/v1/console/visits/v-1", {"visit_id": "v-1"}, 200,
     "/api/v1/console/visits/{visit_id}"),
    ("/api/v1/console/visits/v-1", {}, 200, "/api/…"),  # params it cannot fill in
    ("/elsewhere/v-2", {"visit_id": "v-1"}, 200, "/elsewhere/…"),  # not the route's path
    ("/elsewhere/v-2", {"visit_id": "v-1"}, 404, "(no route)"),
    ("/", {}, 200, "(no route)"),
])
def test_a_logged_route_never_carries_what_was_in_the_path(
        path: str, params: dict[str, str], status: int, logged: str) -> None:
    from starlette.routing import Route

    from fieldapp.hub.access_log import route_of

    route = Route("/visits/{visit_id}", lambda: None)
    assert route_of({"path": path, "path_params": params, "route": route}, status) == logged


def test_a_phone_enrolled_again_keeps_its_device_only_with_its_own_live_token(
        world: World) -> None:
    from datetime import UTC, datetime

    from fieldapp.hub.directory import Directory, DirectoryError

    directory = Directory(world.engine)
    uplands = world.schools["uplands"]
    now = datetime.now(UTC)
    device, token = uplands.device["device_id"], uplands.device["token"]

    def again(staff: str, previous_token: str, school: str = "uplands") -> str:
        code = directory.enrol_code(school, staff, now)
        return directory.enrol(code, "phone", now, previous_device_id=device,
                               previous_token=previous_token).device.id

    assert again(uplands.staff("cat"), token) != device  # another member of staff's code
    assert again(uplands.staff("ann"), "not-its-token") != device  # no proof
    hart = world.schools["hart-hill"]
    assert again(hart.staff("ann"), token, "hart-hill") != device  # another school
    assert again(uplands.staff("ann"), token) == device  # the same phone: it keeps its id
    with pytest.raises(DirectoryError):  # ...and the token it had stops working
        directory.authenticate(token)
    assert [d["device_id"] for d in directory.devices("uplands")].count(device) == 1


def test_rotate_key_retires_the_key_beside_it_and_makes_a_new_one(
        where: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fieldapp.hub.cli import hub_keys

    assert main([*where, "init"]) == 0
    old = hub_keys(tmp_path / "hub.key", create=False)
    with serving(open_hub(where[1])):
        assert main([*where, "rotate-key"]) == 1  # not under a running hub
    assert hub_keys(tmp_path / "hub.key", create=False).fingerprint() == old.fingerprint()
    capsys.readouterr()
    assert main([*where, "rotate-key"]) == 0
    said = capsys.readouterr().out
    (retired,) = tmp_path.glob("hub.key.retired-*")
    assert retired.read_bytes() == old.private_bytes()
    new = hub_keys(tmp_path / "hub.key", create=False)
    assert new.fingerprint() != old.fingerprint()
    assert oct((tmp_path / "hub.key").stat().st_mode & 0o777) == oct(0o600)
    assert f"--retired-key {retired}" in said and new.fingerprint() in said
