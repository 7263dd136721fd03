"""The phone app's benchmark runs and prints every figure (speed is judged from its output,
bench/ui_bench.py, not here)."""

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
