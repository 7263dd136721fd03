"""Commands the engine refuses as malformed whatever the policy says: a visit driven with
another school's pack, a yes-or-no that is not True or False, staff without ids or names; and
input it reads as staff mean it (a risk level in any case)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.journeys import PAIR, go_ahead_assessment
from fieldapp.domain.policy import Pack, load_pack
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.state import Staff
from tests.unit.support import T0, walk


def test_a_visit_is_driven_only_with_the_pack_it_was_planned_under() -> None:
    visit = walk(load_pack("uplands-junior"), until=c.Arrive)
    before = visit.state
    visit.pack = load_pack("blue-coat-secondary")
    with pytest.raises(c.CommandError, match="planned under the policy pack 'uplands-junior', "
                                             "not 'blue-coat-secondary'"):
        visit.do(c.Arrive())
    assert visit.state == before


@pytest.mark.parametrize("command", [
    c.Answer("id_shown", "no"),  # type: ignore[arg-type]
    c.Answer("id_shown", 1),  # type: ignore[arg-type]
    c.GoUpstairs(True, "yes", True),  # type: ignore[arg-type]
    c.Leave(returning_directly=None),  # type: ignore[arg-type]
    c.RecordOutcome("seen", "well"),  # type: ignore[arg-type]
], ids=["answer-no-text", "answer-one", "upstairs", "leave", "outcome"])
def test_a_yes_or_no_is_true_or_false_never_read_by_truthiness(command: c.Command) -> None:
    visit = walk(load_pack("uplands-junior"), until=c.DoorAnswered)
    with pytest.raises(c.CommandError, match="answer yes or no"):
        visit.do(command)


def test_a_risk_answer_is_true_or_false() -> None:
    pack = load_pack("holy-cross-primary")
    visit = walk(pack, until=c.AssessRisk)
    answers: dict[str, Any] = dict(go_ahead_assessment(pack).answers)
    answers[next(iter(answers))] = "no"
    with pytest.raises(c.CommandError, match=r"answers\[.*\]: answer yes or no"):
        visit.do(c.AssessRisk(answers, "MEDIUM"))


def plan(pack: Pack, **changes: Any) -> c.Plan:
    return replace(c.Plan("UPN-1", "Sam", "1 Road", "attendance", T0 + timedelta(hours=1), PAIR,
                          safe_phrase="blue umbrella"), **changes)


@pytest.mark.parametrize(("staff", "words"), [
    ((Staff("   ", "Ann"), PAIR[1]), "by staff id"),
    ((Staff(" staff-ann", "Ann"), PAIR[1]), "no spaces around it"),
    ((Staff("staff-ann", "  "), PAIR[1]), "needs a name"),
])
def test_visiting_staff_need_real_ids_and_names(staff: tuple[Staff, ...], words: str) -> None:
    pack = load_pack("uplands-junior")
    with pytest.raises(c.CommandError, match=words):
        SimulatedVisit(pack, T0).do(plan(pack, staff=staff))


@pytest.mark.parametrize("level", ["medium", "Medium", " MEDIUM "])
def test_a_risk_level_is_read_in_any_case_and_kept_as_the_pack_writes_it(level: str) -> None:
    pack = load_pack("holy-cross-primary")
    visit = walk(pack, until=c.AssessRisk)
    decision = visit.do(c.AssessRisk(go_ahead_assessment(pack).answers, level))
    assert decision.accepted, decision.findings
    assert visit.state.risk is not None and visit.state.risk["level"] == "MEDIUM"
    with pytest.raises(c.CommandError, match="choose a risk level: LOW, MEDIUM, HIGH"):
        visit.do(c.AssessRisk(go_ahead_assessment(pack).answers, "medium-ish"))
