"""The store benchmark runs and prints its figures (speed is judged from its output, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def test_the_store_benchmark_prints_every_figure() -> None:
    result = subprocess.run([sys.executable, "bench/store_bench.py", "--quick"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=True)
    out = result.stdout
    for backend in ("this store", "SQLite WAL FULL", "TinyDB JSONStorage"):
        assert f"{backend:<20}     100" in out
    assert "p50 at 1,000 / p50 at 100" in out and "worst p99" in out
    assert "background snapshot of 1,000 events" in out
    for stop in ("killed while writing a snapshot", "after a clean close"):
        assert f"unlock to a usable store of 1,000 events, {stop}:" in out
