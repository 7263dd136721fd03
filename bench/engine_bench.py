"""What a phone screen costs the engine: "what now?" beside fold, for a 40-event visit.

Each school's journey 1 (planned, let in, outcome, back at school) is padded with check-in calls
to 40 events, and stopped inside the home (timers, reminders, every action inside). For each
school we time, in the same run: loading all five packs; fold of the 40 events (the baseline,
which a screen pays anyway on a restart); and `what_now` on the folded state. We print the
median and p99 of each, what_now's median as a multiple of fold's, and the slowest median of
what_now at any point of the whole journey (every stage from planned to debriefed).

    .venv/bin/python bench/engine_bench.py            # a few seconds
    .venv/bin/python bench/engine_bench.py --quick

Target (the engine's "what now?" issue): what_now median < 2 ms for a 40-event visit.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from fieldapp.domain import commands as c
from fieldapp.domain.events import Event
from fieldapp.domain.guide import what_now
from fieldapp.domain.journeys import let_in
from fieldapp.domain.policy import Pack, load_pack, pack_ids
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import fold

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
EVENTS = 40
TARGET_MS = 2.0


def visit_inside(pack: Pack) -> tuple[list[Event], SimulatedVisit]:
    """Journey 1 up to the outcome, inside the home, with check-in calls to make 40 events."""
    visit = SimulatedVisit(pack, T0)
    for _label, minutes, command in let_in(visit):
        if isinstance(command, c.RecordOutcome):
            break
        visit.do(command, after_minutes=minutes)
    while len(visit.events) < EVENTS:
        visit.do(c.CheckIn("all well"), after_minutes=0.5)
    assert len(visit.events) == EVENTS and visit.state.phase.value == "inside"
    return visit.events, visit


def slowest_stage(pack: Pack, rounds: int) -> tuple[str, float]:
    """The stage of journey 1 at which what_now takes longest (median), and how long."""
    visit = SimulatedVisit(pack, T0)
    medians = []
    for _label, minutes, command in let_in(visit):
        visit.do(command, after_minutes=minutes)
        guide = what_now(visit.state, pack, visit.now, by=visit.author)
        median = statistics.median(timed(partial(what_now, visit.state, pack, visit.now,
                                                 by=visit.author), rounds))
        medians.append((median, guide.stage.value))
    median, stage = max(medians)
    return stage, median


def timed(work: Callable[[], Any], rounds: int) -> list[float]:
    """Milliseconds per call, one sample per call, after a warm-up."""
    for _ in range(min(50, rounds)):
        work()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, for a smoke test")
    rounds = 200 if parser.parse_args().quick else 2000
    load = timed(lambda: [load_pack(pack_id) for pack_id in pack_ids()], max(10, rounds // 50))
    print(f"loading all five packs: median {statistics.median(load):.1f} ms\n")
    print(f"{'school':22} {'fold p50':>9} {'p99':>7} {'what_now p50':>13} {'p99':>7} "
          f"{'x fold':>7}   (milliseconds)")
    worst = 0.0
    for pack_id in pack_ids():
        pack = load_pack(pack_id)
        events, visit = visit_inside(pack)
        state = fold(events)
        folds = timed(partial(fold, events), rounds)
        guides = timed(partial(what_now, state, pack, visit.now, by=visit.author), rounds)
        fold_ms, guide_ms = statistics.median(folds), statistics.median(guides)
        stage, slowest = slowest_stage(pack, max(20, rounds // 10))
        worst = max(worst, guide_ms, slowest)
        print(f"{pack_id:22} {fold_ms:8.3f}  {p99(folds):6.3f}  {guide_ms:12.3f}  "
              f"{p99(guides):6.3f}  {guide_ms / fold_ms:6.2f}   slowest stage: {stage} "
              f"{slowest:.3f}")
    verdict = "meets" if worst < TARGET_MS else "MISSES"
    print(f"\nworst what_now median {worst:.3f} ms: {verdict} the target of < {TARGET_MS} ms "
          f"for a {EVENTS}-event visit")


if __name__ == "__main__":
    main()
