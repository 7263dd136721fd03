"""An in-memory visit driven command by command: for walkthroughs, tests and benchmarks.

It plays the shell's part (gather -> decide -> stamp -> fold) with a clock it moves by hand and
deterministic entropy, so the same script always gives the same events.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fieldapp.domain.commands import Command
from fieldapp.domain.events import Author, Event
from fieldapp.domain.findings import Decision
from fieldapp.domain.policy import Pack
from fieldapp.domain.rules import decide, stamp
from fieldapp.domain.state import VisitState, fold


def _counter(seed: int) -> Iterator[bytes]:
    n = seed << 40
    while True:
        n += 1
        yield n.to_bytes(10, "big")


@dataclass
class SimulatedVisit:
    pack: Pack
    now: datetime
    visit_id: str = "visit-1"
    author: Author = field(default_factory=lambda: Author("staff-1", "phone-1"))
    seed: int = 1
    events: list[Event] = field(default_factory=list)
    state: VisitState = field(default_factory=VisitState)

    def __post_init__(self) -> None:
        self._entropy = _counter(self.seed)

    def wait(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)

    def do(self, command: Command, after_minutes: float = 0) -> Decision:
        """Decide on the command at the current time and record what it decided to (nothing
        for a refusal, but for a refused risk assessment, which is recorded as refused)."""
        self.wait(after_minutes)
        decision = decide(self.state, command, self.pack, self.now, by=self.author)
        if decision.drafts:
            new = stamp(self.state, decision, self.visit_id, self.author, self.now,
                        lambda: next(self._entropy))
            self.events.extend(new)
            self.state = fold(self.events)
        return decision
