"""The sync benchmark runs and prints its figures (speed is judged from its output, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_the_sync_benchmark_prints_every_figure() -> None:
    result = subprocess.run([sys.executable, "bench/sync_bench.py", "--quick"],
                            cwd=Path(__file__).parents[2], capture_output=True, text=True,
                            timeout=300, check=True)
    for figure in ("loopback", "weak 2G", "the naive sync", "safe-phrase tap to durable",
                   "targets:"):
        assert figure in result.stdout
