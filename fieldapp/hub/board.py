"""Reception's board, computed at the hub: who is out, where, until when, and which visits are
overdue. It folds each visit's events with the same domain code as the phones, and judges
overdue by the hub's clock, so a visit turns red even while the phone has no signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fieldapp.domain.lifecycle import OUT, Phase
from fieldapp.domain.policy import Pack
from fieldapp.domain.state import fold
from fieldapp.domain.timers import Overdue, overdue
from fieldapp.hub.events_store import EventStore


@dataclass(frozen=True, slots=True)
class BoardRow:
    visit_id: str
    phase: Phase
    address: str
    staff: tuple[str, ...]
    vehicles: tuple[str, ...]
    expected_return: str
    overdue: Overdue | None
    alerts: tuple[str, ...]  # safe phrase used, 999, duress


def board(store: EventStore, school_id: str, pack: Pack, now: datetime) -> tuple[BoardRow, ...]:
    """Every visit of the school with staff out, overdue ones first."""
    rows = []
    for visit_id in store.visit_ids(school_id):
        state = fold(store.visit_events(school_id, visit_id))
        if state.phase not in OUT or state.sign_out is None:
            continue
        detail = state.sign_out.detail
        rows.append(BoardRow(
            visit_id=visit_id, phase=state.phase, address=str(state.plan.get("address", "")),
            staff=tuple(member.name for member in state.staff),
            vehicles=tuple(detail.get("vehicles", ())),
            expected_return=str(detail.get("expected_return", "")),
            overdue=overdue(state, pack, now),
            alerts=tuple(str(alert.detail["type"]) for alert in state.alerts),
        ))
    return tuple(sorted(rows, key=lambda row: (row.overdue is None, row.expected_return)))
