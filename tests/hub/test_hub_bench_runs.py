"""The hub benchmark runs against a real server and prints every figure, on SQLite and on
PostgreSQL (speed is judged from its output, not here). In CI PostgreSQL must be there."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
NUMBER = re.compile(r"^[\d,]+(\.\d+)?$")
ROWS = [f"batch {size:<3} {figure:<8} {clients}"
        for size in (100, 1)
        for figure, clients in (("events/s", "4 clients"), ("p50 ms", "4 clients"),
                                ("p99 ms", "4 clients"), ("p50 ms", "4, half load"),
                                ("p99 ms", "4, half load"), ("p50 ms", "1 client"),
                                ("p99 ms", "1 client"))] + [
    f"alert     {figure:<8} {who}" for who in ("alone", "alone, quiet", "4 push 100s")
    for figure in ("p50 ms", "p99 ms")]


def test_the_hub_benchmark_prints_every_figure_for_both_databases() -> None:
    result = subprocess.run([sys.executable, "bench/hub_bench.py", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    lines = result.stdout.splitlines()
    postgres_skipped = "PostgreSQL: skipped" in result.stdout
    assert not (postgres_skipped and os.environ.get("CI") == "true"), result.stdout
    for row in ROWS:
        (line,) = [line for line in lines if line[:32].rstrip() == row]
        figures = line[len(row):].split()
        sqlite, postgres = figures[:3], figures[3:]  # hub, raw floor, x raw for each
        assert all(NUMBER.match(figure) for figure in sqlite), line
        assert postgres == ["skipped"] if postgres_skipped else (
            len(postgres) == 3 and all(NUMBER.match(figure) for figure in postgres)), line
    assert "SQLite: journal_mode=wal, synchronous=FULL" in result.stdout
    assert postgres_skipped or "PostgreSQL: fsync=on, synchronous_commit=on" in result.stdout
    for target in ("batch 100, events/s >= 0.25x the raw floor: ",
                   "an alert alone p99 <= 10 ms: ",
                   "an alert while 4 clients push batches of 100 back to back p99 <= 50 ms: "):
        assert f"target: SQLite, {target}" in result.stdout
    assert "quiet (100 ms apart on average, at random): GET /api/v1/health p50" in (
        result.stdout)
