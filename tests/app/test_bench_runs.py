"""The phone app's and the board's benchmarks run and print every figure (speed is judged
from their output, bench/ui_bench.py and bench/alert_latency.py, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_ui_benchmark_prints_every_figure() -> None:
    result = subprocess.run([sys.executable, "bench/ui_bench.py", "--quick"],
                            cwd=Path(__file__).parents[2], capture_output=True, text=True,
                            timeout=600, check=True)
    for figure in ("load ", "tap ", "base load", "base tap", "x the plain page",
                   "the target of 3.0 s", "the target of 0.4 s"):
        assert figure in result.stdout, result.stdout


def test_the_alert_latency_benchmark_prints_every_figure() -> None:
    result = subprocess.run([sys.executable, "bench/alert_latency.py", "--quick"],
                            cwd=Path(__file__).parents[2], capture_output=True, text=True,
                            timeout=600, check=True)
    for figure in ("alert ", "tap to durable", "durable to hub", "hub to board",
                   "board of 30 ", "base click", "x a plain page's click",
                   "the target of 0.3 s", "the target of 0.1 s"):
        assert figure in result.stdout, result.stdout
