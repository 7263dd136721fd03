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

    .venv/bin/python bench/hub_bench.py            # full run, about a minute or two
    .venv/bin/python bench/hub_bench.py --quick    # smaller, for a smoke test (~15 s)

Targets (the hub issue): at least 20,000 events/s durable on SQLite with one worker;
p99 <= 10 ms for a push of 100 events (printed alone, at half load and at full load).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import os
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from fieldapp.crypto.sealing import HubKeyPair
from fieldapp.domain.events import Author, Event, EventType, new_event_id
from fieldapp.hub.directory import Directory
from fieldapp.hub.events_store import connect

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


def event(n: int, phone: Phone) -> Event:
    at = T0 + timedelta(milliseconds=n)
    return Event(id=new_event_id(at, n.to_bytes(10, "big")), visit_id=f"visit-{n // 40}",
                 type=EventType.CHECKLIST_ANSWERED, at=at,
                 author=Author(phone.staff_id, phone.device_id),
                 payload={"item": "animals_out", "answer": "yes",
                          "note": "Dog shut in the kitchen before we went in."})


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
    every_s: float  # one push every so often
    offset_s: float  # after this long from the start


def push_all(port: int, phone: Phone, bodies: list[bytes], size: int,
             start: threading.Barrier, samples: list[float], failures: list[str],
             schedule: Schedule | None = None) -> None:
    """One phone: push each body in turn on one keep-alive connection, timing each: back to
    back, or on `schedule`, timed from when each push was due, so that a push held up by the
    one before it is charged for the wait."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {phone.token}", "Content-Type": "application/json"}
    start.wait()
    started = time.perf_counter()
    for number, body in enumerate(bodies):
        begun = time.perf_counter()
        if schedule is not None:
            begun = started + schedule.offset_s + number * schedule.every_s
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
            Schedule(every, every * number / len(phones)) if every else None))
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


def enrol(url: str, clients: int) -> tuple[list[Phone], str]:
    """A school with one phone per client; also reads back how durable the hub's engine is."""
    engine = connect(url)
    directory = Directory(engine)
    directory.add_school(SCHOOL, "Uplands Junior School", "uplands-junior")
    phones = []
    for number in range(clients):
        staff_id = f"staff-{number}"
        directory.add_staff(SCHOOL, staff_id, f"Staff {number}", "staff")
        enrolment = directory.enrol(directory.enrol_code(SCHOOL, staff_id, datetime.now(UTC)),
                                    f"phone {number}", datetime.now(UTC))
        phones.append(Phone(enrolment.device.id, staff_id, enrolment.token))
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
    engine = connect(url)
    with engine.connect() as connection:
        count = connection.execute(
            text("SELECT count(*) FROM events WHERE school_id = :s"), {"s": SCHOOL}).scalar_one()
    engine.dispose()
    return int(count)


@dataclass(frozen=True)
class Plan:
    clients: int
    pushes: dict[int, int]  # per client, per batch size
    warmup: int


def measure(url: str, folder: Path, plan: Plan) -> tuple[dict[tuple[str, int], Figures], str]:
    """("raw" | "hub" | "alone", batch size) -> figures: the raw floor, the hub with every
    client pushing at once, and the hub with one client pushing alone (no queueing)."""
    phones, durability = enrol(url, plan.clients)
    numbers = Numbers()
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
    expected = sum((plan.pushes[s] + plan.warmup) * (2 * plan.clients + 1) * s
                   for s in BATCHES)
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
    plan = (Plan(args.clients, {100: 10, 1: 50}, warmup=2) if args.quick
            else Plan(args.clients, {100: 150, 1: 1000}, warmup=10))

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
    print("durable: " + "; ".join(notes))
    sqlite = results["SQLite"]
    assert sqlite is not None
    throughput = sqlite["hub", 100].events_per_s
    print(f"target: SQLite, batch 100, >= 20,000 events/s: {throughput:,.0f} "
          f"({verdict(throughput, 20_000, at_least=True)})")
    for name, found in results.items():
        if found is not None:
            print(f"target: {name}, batch 100, p99 <= 10 ms: " + ", ".join(
                f"{found[kind, 100].p99_ms:.2f} ms {label} "
                f"({verdict(found[kind, 100].p99_ms, 10, at_least=False)})"
                for kind, label in (("alone", "alone"),
                                    ("half", f"with {plan.clients} clients at half load"),
                                    ("hub", f"with {plan.clients} clients at full load"))))
    print(f"(at full load each push queues behind the other clients' pushes: by Little's law "
          f"the mean latency is {plan.clients} clients / pushes per second, so p99 <= 10 ms "
          f"there would take {plan.clients * 100 / 0.010:,.0f} events/s)")


if __name__ == "__main__":
    main()
