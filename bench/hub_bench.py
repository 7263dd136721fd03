"""The hub's push path under load: durable events per second and push latency, one run.

A real hub is started as `fieldapp-hub serve` runs it (uvicorn, one worker, its own process,
whatever HTTP parser and event loop uvicorn picks by itself here: the table's first line says
which) on a fresh database, once on SQLite and once on PostgreSQL. Several phones
(`--clients`, 4 by default), each enrolled with its own device token, push pre-built batches
of 100 events, then of 1 event, back to back over keep-alive HTTP/1.1 (full load: the
events/s); then the same phones each push on a schedule, together at half the rate the hub
just managed, each push timed from when it was due (half load: a push's latency when phones
share the hub without saturating it); then one phone pushes alone, back to back, which shows
a push's own latency. At full load a push queues behind the other phones' pushes: with N
phones and one worker its latency is about N x the service time (Little's law). Every
answer is checked:
each push must come back 200 with all its events `stored`, and at the end the database must
hold them all. The hub answers a push only after its transaction has committed, and both
databases are durable: SQLite in WAL with synchronous=FULL (checked on the hub's own engine),
PostgreSQL with fsync and synchronous_commit on (checked on the server); the SQLite file is
made under the project folder, on the disk, never on a tmpfs. So events/s here is durable.

The clients are threads in this process using `http.client`, with the bodies encoded before
the clock starts: per push a client only writes bytes and reads the answer, a small cost
beside the hub's, and the hub is its own process, so the clients never hold its GIL. They
do share the machine's cores with it (and with the database server): on a small machine the
figures are a little low, not flattering.

The baseline, measured in the same run on the same database just before the hub starts: the
raw floor, the same rows inserted into the hub's `events` table with plain `sqlite3` /
`psycopg` `executemany`, one durable transaction per batch, one connection, back to back.
On SQLite its commits do not checkpoint (the serving hub's do not either: a thread of its
own does, fieldapp/hub/checkpoints.py), so the floor is the inserts and the fsync alone.
"x raw" is the hub's cost over the raw cost: raw events/s / hub events/s, and hub latency /
raw latency.

    .venv/bin/python bench/hub_bench.py            # full run, about four minutes
    .venv/bin/python bench/hub_bench.py --quick    # smaller, for a smoke test (~30 s)

Alerts: a safe-phrase alert is one event pushed on its own, and it must not wait behind bulk
sync. One more phone pushes alerts one at a time (marked `Priority: u=0`, as phones mark
them): alone back to back; alone after quiet spells (100 ms apart on average, at random,
each timed from when it was due), beside the hub's own floor for a request after a quiet
spell (`GET /api/v1/health` on the same schedule: on this machine any request after a quiet
spell pays a few milliseconds more at p99); and 50 ms apart on average while the other
phones push batches of 100 back to back.

Targets (issue 9, restated with Little's law in mind), on SQLite with one worker: durable
events/s at least 0.25x the raw floor with every event checked against its type's schema;
an alert alone p99 <= 10 ms; an alert while 4 phones push batches of 100 back to back
p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import EventStore, connect
from fieldapp.sync.protocol import Push

POSTGRES = os.environ.get("HUB_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SCHOOL = "uplands"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
BATCHES = (100, 1)
ROOT = Path(__file__).parents[1]


@dataclass(frozen=True)
class Phone:
    device_id: str
    staff_id: str
    token: str


@dataclass(frozen=True)
class Figures:
    events_per_s: float
    p50_ms: float
    p99_ms: float


class Numbers:
    """Event ids that never repeat within a run: each batch draws the next range."""

    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> range:
        self.next += count
        return range(self.next - count, self.next)


VISITS = 8  # each phone's member of staff is on this many visits; its events spread over them
ALERT_EVERY = 0.1  # seconds between one phone's alerts, on average
ALERTER = "staff-alerts"  # the member of staff whose phone raises them


def visit_of(n: int, phone: Phone) -> str:
    return f"{phone.staff_id}-visit-{(n // 40) % VISITS}"


def event(n: int, phone: Phone, kind: EventType = EventType.CHECKED_IN) -> Event:
    """A phone's event: a check-in call with a note (a safe-phrase alert with `kind`)."""
    at = T0 + timedelta(milliseconds=n)
    payload = ({"note": "Dog shut in the kitchen before we went in."}
               if kind is EventType.CHECKED_IN else
               {"phrase": "have I left the red folder with you?",
                "reception_phone": "01902 558870"})
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=visit_of(n, phone),
                 type=kind, at=at, author=Author(phone.staff_id, phone.device_id),
                 payload=payload)


def plans(phone: Phone, numbers: Numbers) -> tuple[Event, ...]:
    """The plans that put the phone's member of staff on their visits (the hub takes a
    phone's events only for visits its member of staff is on)."""
    staff = [{"staff_id": phone.staff_id, "name": "Staff", "safeguarding_trained": True,
              "knows_family": False, "mobile": ""}]
    payload = {"pack_id": "uplands-junior", "child_ref": "UPN-1", "child_name": "Sam",
               "address": "1 Example Street", "purpose": "Attendance",
               "scheduled_at": T0.isoformat(), "staff": staff, "announced": True,
               "notice_exception": "", "first_visit": False, "lone_reason": "",
               "evening": False, "extended_duration_agreed_by": "", "safe_phrase": ""}
    return tuple(
        Event(id=new_event_id(T0, n.to_bytes(10, "big")), visit_id=visit_of(40 * k, phone),
              type=EventType.PLANNED, at=T0, author=Author(phone.staff_id, phone.device_id),
              payload=payload)
        for k, n in zip(range(VISITS), numbers.take(VISITS), strict=True))


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


# --- the raw floor -------------------------------------------------------------------------


def raw_rows(batch: list[Event], device_id: str) -> list[tuple[str, ...]]:
    return [(e.id, "raw-floor", e.visit_id, e.type.value, device_id, e.canonical())
            for e in batch]


INSERT = "INSERT INTO events (id, school_id, visit_id, type, device_id, body) VALUES ({})"


def raw_floor(url: str, phone: Phone, numbers: Numbers, size: int, batches: int) -> Figures:
    """One connection, one durable transaction per batch of `size` rows, back to back."""
    work = [raw_rows([event(n, phone) for n in numbers.take(size)], phone.device_id)
            for _ in range(batches)]
    samples: list[float] = []
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=FULL")
        connection.execute("PRAGMA wal_autocheckpoint=0")  # as the serving hub's commits
        sql = INSERT.format(", ".join("?" * 6))
        started = time.perf_counter()
        for rows in work:
            begun = time.perf_counter()
            connection.execute("BEGIN")
            connection.executemany(sql, rows)
            connection.execute("COMMIT")
            samples.append((time.perf_counter() - begun) * 1000)
        elapsed = time.perf_counter() - started
        connection.close()
    else:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as pg:
            sql = INSERT.format(", ".join(["%s"] * 6))
            started = time.perf_counter()
            for rows in work:
                begun = time.perf_counter()
                with pg.cursor() as cursor:
                    cursor.executemany(sql, rows)
                pg.commit()
                samples.append((time.perf_counter() - begun) * 1000)
            elapsed = time.perf_counter() - started
    return Figures(size * batches / elapsed, *percentiles(samples))


# --- the hub, served for real --------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served(url: str, folder: Path) -> Iterator[int]:
    """`fieldapp-hub serve` on `url`, one uvicorn worker in its own process; yields its port."""
    key = folder / "hub.key"
    key.write_bytes(HubKeyPair.generate().private_bytes())
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "fieldapp.hub.cli", "--db", url, "--key", str(key), "serve",
         "--port", str(port)], cwd=ROOT, stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                connection.request("GET", "/api/v1/health")
                if connection.getresponse().status == 200:
                    connection.close()
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("the hub did not start") from None
                time.sleep(0.05)
        yield port
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)


@dataclass(frozen=True)
class Schedule:
    """When each push is due, in seconds from the start."""

    due: list[float]

    @classmethod
    def regular(cls, every_s: float, offset_s: float, count: int) -> Schedule:
        return cls([offset_s + number * every_s for number in range(count)])

    @classmethod
    def random(cls, mean_s: float, count: int, seed: int = 9) -> Schedule:
        """Spaced at random, from half to one and a half times `mean_s` apart, as alerts come:
        never in step with anything the hub does at regular times (its checkpoints)."""
        chance = random.Random(seed)
        gaps = [chance.uniform(mean_s / 2, mean_s * 1.5) for _ in range(count)]
        return cls([sum(gaps[:number]) for number in range(count)])


def push_all(port: int, phone: Phone, bodies: list[bytes], size: int,
             start: threading.Barrier, samples: list[float], failures: list[str],
             schedule: Schedule | None = None, until: Callable[[], bool] | None = None) -> None:
    """One phone: push each body in turn on one keep-alive connection, timing each: back to
    back, or on `schedule`, timed from when each push was due, so that a push held up by the
    one before it is charged for the wait; and stop early once `until` says so."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {phone.token}", "Content-Type": "application/json"}
    if size == 1 and phone.staff_id == ALERTER:
        headers["Priority"] = "u=0"  # as a phone marks a push that carries an alert
    start.wait()
    started = time.perf_counter()
    for number, body in enumerate(bodies):
        if until is not None and until():
            break
        begun = time.perf_counter()
        if schedule is not None:
            begun = started + schedule.due[number]
            time.sleep(max(0.0, begun - time.perf_counter()))
        connection.request("POST", "/api/v1/push", body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        samples.append((time.perf_counter() - begun) * 1000)
        if answer.status != 200 or len(json.loads(data)["stored"]) != size:
            failures.append(f"{answer.status}: {data[:200]!r}")
    connection.close()


def hub_load(port: int, phones: list[Phone], numbers: Numbers, size: int, pushes: int,
             warmup: int, every_s: float = 0.0) -> Figures:
    """Every phone pushes `warmup` untimed batches, then `pushes` timed ones, all at once:
    back to back, or with `every_s`, each phone one push every `every_s` seconds (the phones
    staggered), each push timed from when it was due."""
    def bodies(count: int, phone: Phone) -> list[bytes]:
        return [json.dumps({"protocol": 1, "events": [
            event(n, phone).to_dict() for n in numbers.take(size)]}).encode()
            for _ in range(count)]

    def run(work: list[list[bytes]], every: float = 0.0) -> tuple[float, list[float]]:
        start = threading.Barrier(len(phones) + 1)
        samples: list[list[float]] = [[] for _ in phones]
        failures: list[str] = []
        threads = [threading.Thread(target=push_all, args=(
            port, phone, mine, size, start, into, failures,
            Schedule.regular(every, every * number / len(phones), len(mine)) if every
            else None))
            for number, (phone, mine, into) in enumerate(zip(phones, work, samples,
                                                              strict=True))]
        for thread in threads:
            thread.start()
        start.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{len(failures)} pushes failed, first: {failures[0]}")
        return elapsed, [s for mine in samples for s in mine]

    run([bodies(warmup, phone) for phone in phones])
    elapsed, samples = run([bodies(pushes, phone) for phone in phones], every_s)
    return Figures(size * pushes * len(phones) / elapsed, *percentiles(samples))


# --- one backend ---------------------------------------------------------------------------


def enrol(url: str, clients: int, numbers: Numbers,
          alerter: bool = False) -> tuple[list[Phone], str]:
    """A school with one phone per client (and one more that raises alerts, last), each
    member of staff planned onto their visits; also reads back how durable the hub's engine
    is."""
    engine = connect(url)
    directory, store = Directory(engine), EventStore(engine)
    directory.add_school(SCHOOL, "Uplands Junior School", "uplands-junior")
    phones = []
    for number in range(clients + alerter):
        staff_id = ALERTER if number == clients else f"staff-{number}"
        directory.add_staff(SCHOOL, staff_id, f"Staff {number}", "staff")
        enrolment = directory.enrol(directory.enrol_code(SCHOOL, staff_id, datetime.now(UTC)),
                                    f"phone {number}", datetime.now(UTC))
        phone = Phone(enrolment.device.id, staff_id, enrolment.token)
        store.ingest(SCHOOL, phone.device_id, Push(plans(phone, numbers)))
        phones.append(phone)
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            mode = connection.execute(text("PRAGMA journal_mode")).scalar_one()
            level = connection.execute(text("PRAGMA synchronous")).scalar_one()
            durability = f"journal_mode={mode}, synchronous={'FULL' if level == 2 else level}"
            if mode != "wal" or level != 2:
                raise SystemExit(f"the hub's SQLite is not durable: {durability}")
        else:
            fsync = connection.execute(text("SHOW fsync")).scalar_one()
            commit = connection.execute(text("SHOW synchronous_commit")).scalar_one()
            durability = f"fsync={fsync}, synchronous_commit={commit}"
            if fsync != "on" or commit != "on":
                raise SystemExit(f"the PostgreSQL server is not durable: {durability}")
    engine.dispose()
    return phones, durability


def stored_count(url: str) -> int:
    """The events the phones pushed that the hub holds (their plans left out)."""
    engine = connect(url)
    with engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM events WHERE school_id = :s AND type != 'planned'"),
            {"s": SCHOOL}).scalar_one()
    engine.dispose()
    return int(count)


@dataclass(frozen=True)
class Plan:
    clients: int
    pushes: dict[int, int]  # per client, per batch size
    warmup: int
    alerts: int  # pushed alone (at most ten times as many are pushed under load)
    under_alerts: int  # batches of 100 each client pushes while alerts come


def alerts(port: int, alerter: Phone, phones: list[Phone], numbers: Numbers, count: int,
           schedule: Schedule | None, bulk_pushes: int = 0) -> tuple[Figures, int]:
    """`alerter` pushes `count` alerts, one at a time, back to back or on `schedule` (each
    timed from when it was due), while `phones` each push `bulk_pushes` batches of 100 back
    to back. With phones, only the alerts sent while they were all still pushing count. The
    figures, and how many alerts the hub stored."""
    bodies = [json.dumps({"protocol": 1, "events": [
        event(n, alerter, EventType.SAFE_PHRASE_USED).to_dict() for n in numbers.take(1)]}
        ).encode() for _ in range(count)]
    bulk = [[json.dumps({"protocol": 1, "events": [
        event(n, phone).to_dict() for n in numbers.take(100)]}).encode()
        for _ in range(bulk_pushes)] for phone in phones]
    start = threading.Barrier(len(phones) + 2)
    failures: list[str] = []
    finished = threading.Event()  # the first phone has pushed all it had
    sent: list[float] = []

    def loaded(phone: Phone, work: list[bytes]) -> None:
        push_all(port, phone, work, 100, start, [], failures)
        finished.set()

    threads = [threading.Thread(target=loaded, args=(phone, work))
               for phone, work in zip(phones, bulk, strict=True)]
    threads.append(threading.Thread(target=push_all, args=(
        port, alerter, bodies, 1, start, sent, failures, schedule,
        finished.is_set if phones else None)))
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} pushes failed, first: {failures[0]}")
    timed = sent[:-1] if phones else sent  # the last may have gone as the load ended
    return Figures(0.0, *percentiles(timed)), len(sent)


def idle_floor(port: int, schedule: Schedule) -> Figures:
    """The hub's own floor for a request that comes after a quiet spell: `GET /api/v1/health`
    (no database, no body) on `schedule`, each timed from when it was due."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    samples: list[float] = []
    started = time.perf_counter()
    for due in schedule.due:
        begun = started + due
        time.sleep(max(0.0, begun - time.perf_counter()))
        connection.request("GET", "/api/v1/health")
        connection.getresponse().read()
        samples.append((time.perf_counter() - begun) * 1000)
    connection.close()
    return Figures(0.0, *percentiles(samples))


def measure(url: str, folder: Path, plan: Plan) -> tuple[dict[tuple[str, int], Figures], str]:
    """("raw" | "hub" | "half" | "alone", batch size) -> figures: the raw floor, the hub with
    every client pushing at once (back to back, then at half the rate), and the hub with one
    client pushing alone (no queueing); ("alert" | "alert+load", 1): alerts alone and while
    the clients push batches of 100."""
    numbers = Numbers()
    phones, durability = enrol(url, plan.clients, numbers, alerter=True)
    phones, alerter = phones[:-1], phones[-1]
    results: dict[tuple[str, int], Figures] = {}
    for size in BATCHES:
        results["raw", size] = raw_floor(url, phones[0], numbers, size,
                                         plan.pushes[size] * plan.clients)
    with served(url, folder) as port:
        for size in BATCHES:
            results["hub", size] = hub_load(port, phones, numbers, size, plan.pushes[size],
                                            plan.warmup)
            # The same phones at half the pushes per second the hub just managed: each phone
            # pushes every len(phones) / (half that rate) seconds.
            every = plan.clients * size / (results["hub", size].events_per_s / 2)
            results["half", size] = hub_load(port, phones, numbers, size, plan.pushes[size],
                                             plan.warmup, every_s=every)
            results["alone", size] = hub_load(port, phones[:1], numbers, size,
                                              plan.pushes[size], plan.warmup)
        quiet = Schedule.random(ALERT_EVERY, plan.alerts)
        results["alert", 1], alone = alerts(port, alerter, [], numbers, plan.alerts, None)
        results["alert idle", 1], idle = alerts(port, alerter, [], numbers, plan.alerts, quiet)
        results["idle floor", 1] = idle_floor(port, quiet)
        results["alert+load", 1], loaded = alerts(
            port, alerter, phones, numbers, plan.alerts * 10,
            Schedule.random(ALERT_EVERY / 2, plan.alerts * 10), plan.under_alerts)
    expected = sum((plan.pushes[s] + plan.warmup) * (2 * plan.clients + 1) * s
                   for s in BATCHES) + alone + idle + loaded + \
        plan.clients * plan.under_alerts * 100
    if (found := stored_count(url)) != expected:
        raise SystemExit(f"the hub holds {found} events, expected {expected}")
    return results, durability


@contextmanager
def sqlite_database() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(dir=ROOT) as folder:
        yield f"sqlite:///{Path(folder) / 'hub.db'}", Path(folder)


@contextmanager
def postgres_database() -> Iterator[tuple[str, Path]]:
    import psycopg

    name = f"hub_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{POSTGRES}/test", autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with tempfile.TemporaryDirectory(dir=ROOT) as folder:
            yield f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg://')}/{name}", \
                Path(folder)
    finally:
        with psycopg.connect(f"{POSTGRES}/test", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_unreachable() -> str | None:
    import psycopg

    try:
        with psycopg.connect(f"{POSTGRES}/test", connect_timeout=5):
            return None
    except psycopg.OperationalError as error:
        return str(error).strip().splitlines()[0]


# --- the table -----------------------------------------------------------------------------

Results = dict[tuple[str, int], Figures]


def cells(results: Results | None, kind: str, size: int, unit: str) -> str:
    if results is None:
        return f"{'skipped':>10} {'':>10} {'':>7}"
    hub, raw = results[kind, size], results["raw", size]
    if unit == "events/s":  # cost per event: raw events/s over hub events/s
        return f"{hub.events_per_s:>10,.0f} {raw.events_per_s:>10,.0f} " \
               f"{raw.events_per_s / hub.events_per_s:>7.2f}"
    ours, floor = (hub.p50_ms, raw.p50_ms) if unit == "p50 ms" else (hub.p99_ms, raw.p99_ms)
    return f"{ours:>10.2f} {floor:>10.2f} {ours / floor:>7.2f}"


def verdict(value: float, target: float, at_least: bool) -> str:
    return "met" if (value >= target if at_least else value <= target) else "NOT met"


def server_stack() -> str:
    """What `uvicorn.run` picks by itself in this environment (loop="auto", http="auto")."""
    found = {name: importlib.util.find_spec(name) is not None for name in ("uvloop", "httptools")}
    return (f"loop={'uvloop' if found['uvloop'] else 'asyncio'}, "
            f"http={'httptools' if found['httptools'] else 'h11'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer pushes, for a smoke test")
    parser.add_argument("--clients", type=int, default=4, help="concurrent phones (default 4)")
    args = parser.parse_args()
    plan = (Plan(args.clients, {100: 10, 1: 50}, warmup=2, alerts=30, under_alerts=30)
            if args.quick else
            Plan(args.clients, {100: 150, 1: 1000}, warmup=10, alerts=300, under_alerts=600))

    results: dict[str, Results | None] = {}
    notes: list[str] = []
    with sqlite_database() as (url, folder):
        results["SQLite"], durability = measure(url, folder, plan)
        notes.append(f"SQLite: {durability}")
    if (reason := postgres_unreachable()) is None:
        with postgres_database() as (url, folder):
            results["PostgreSQL"], durability = measure(url, folder, plan)
            notes.append(f"PostgreSQL: {durability}")
    else:
        results["PostgreSQL"] = None
        notes.append(f"PostgreSQL: skipped, not reachable at {POSTGRES} ({reason})")

    print(f"hub push: 1 uvicorn worker ({server_stack()}), {plan.clients} concurrent clients "
          f"and 1 client alone; {'--quick' if args.quick else 'full run'}")
    print(f"{'':<32} {'------------ SQLite ------------':>30} "
          f"{'---------- PostgreSQL ----------':>30}")
    print(f"{'':<32}" + f" {'hub':>10} {'raw floor':>10} {'x raw':>7}" * 2)
    rows = [("hub", "events/s"), ("hub", "p50 ms"), ("hub", "p99 ms"),
            ("half", "p50 ms"), ("half", "p99 ms"), ("alone", "p50 ms"), ("alone", "p99 ms")]
    who = {"hub": f"{plan.clients} clients", "half": f"{plan.clients}, half load",
           "alone": "1 client"}
    for size in BATCHES:
        for kind, unit in rows:
            label = f"batch {size:<3} {unit:<8} {who[kind]}"
            print(f"{label:<32} {cells(results['SQLite'], kind, size, unit)} "
                  f"{cells(results['PostgreSQL'], kind, size, unit)}".rstrip())
    for kind, label in (("alert", "alone"), ("alert idle", "alone, quiet"),
                        ("alert+load", f"{plan.clients} push 100s")):
        for unit in ("p50 ms", "p99 ms"):
            row = f"alert     {unit:<8} {label}"
            print(f"{row:<32} {cells(results['SQLite'], kind, 1, unit)} "
                  f"{cells(results['PostgreSQL'], kind, 1, unit)}".rstrip())
    print("(alert rows: x raw against the raw floor for one event)")
    for name, found in results.items():
        if found is not None:
            floor, idle = found["idle floor", 1], found["alert idle", 1]
            print(f"{name}, quiet (100 ms apart on average, at random): GET /api/v1/health "
                  f"p50 {floor.p50_ms:.2f} ms, p99 {floor.p99_ms:.2f} ms; an alert p50 "
                  f"{idle.p50_ms:.2f} ms, p99 {idle.p99_ms:.2f} ms "
                  f"({idle.p99_ms / floor.p99_ms:.2f}x the floor)")
    print("durable: " + "; ".join(notes))
    sqlite = results["SQLite"]
    assert sqlite is not None
    ratio = sqlite["hub", 100].events_per_s / sqlite["raw", 100].events_per_s
    print(f"target: SQLite, batch 100, events/s >= 0.25x the raw floor: "
          f"{sqlite['hub', 100].events_per_s:,.0f} / {sqlite['raw', 100].events_per_s:,.0f} "
          f"= {ratio:.2f}x ({verdict(ratio, 0.25, at_least=True)})")
    alone, loaded = sqlite["alert", 1].p99_ms, sqlite["alert+load", 1].p99_ms
    print(f"target: SQLite, an alert alone p99 <= 10 ms: {alone:.2f} ms "
          f"({verdict(alone, 10, at_least=False)})")
    print(f"target: SQLite, an alert while {plan.clients} clients push batches of 100 back to "
          f"back p99 <= 50 ms: {loaded:.2f} ms ({verdict(loaded, 50, at_least=False)})")
    print(f"(at full load each push queues behind the other clients' pushes: by Little's law "
          f"the mean latency is {plan.clients} clients / pushes per second)")


if __name__ == "__main__":
    main()
