"""Pack features that let a policy's own words reach staff: a risk answer's own message,
a separate cite for the late-parent wait, and 'put it right first' checks."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from fieldapp.domain import commands as c
from fieldapp.domain.journeys import PAIR, no_answer
from fieldapp.domain.policy import (
    ChecklistItem,
    Cite,
    Pack,
    PackError,
    Question,
    RiskEffect,
    Rule,
    Then,
    Wait,
    parse_pack,
)
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.timers import wait_findings
from tests.unit.support import T0, walk

NO_ANSWER_CITE = Cite("4.5", "wait no longer than 20 minutes")
LATE_CITE = Cite("4.6", "over 30 minutes late")


def test_a_risk_answer_can_say_what_the_policy_says_to_do(uplands: Pack) -> None:
    question = Question("concerns", "Any concerns about visiting?", RiskEffect.BLOCK,
                        RiskEffect.OK, Cite("Threatened", "do not visit"),
                        say="Do not visit. Call the emergency services on the school's behalf.")
    fixable = Question("read", "Read the risk assessment?", RiskEffect.OK, RiskEffect.REFUSE,
                       Cite("Before", "Read it"), say="Both of you read it first.")
    pack = replace(uplands, risk=replace(uplands.risk, questions=(question, fixable)))
    visit = SimulatedVisit(pack, T0)
    visit.do(c.Plan("UPN-1", "Sam", "1 Road", "attendance", T0.replace(hour=10), PAIR,
                    safe_phrase="x"))
    decision = visit.do(c.AssessRisk({"concerns": True, "read": False}))
    assert [f.say for f in decision.refusals] == [
        "Do not visit. Call the emergency services on the school's behalf.",
        "Both of you read it first."]


def late_pack(uplands: Pack) -> Pack:
    return replace(uplands, wait=Wait(no_answer_minutes=20, late_parent_minutes=30,
                                      call_via_school=None, cite=NO_ANSWER_CITE,
                                      late_cite=LATE_CITE))


def test_each_wait_limit_cites_its_own_line(uplands: Pack) -> None:
    pack = late_pack(uplands)
    visit = walk(pack, until=c.NoAnswer, journey=no_answer)
    knock = visit.do(c.NoAnswer())
    assert knock.findings[0].quote == NO_ANSWER_CITE.quote
    visit.wait(20)
    assert wait_findings(visit.state, pack, visit.now)[0].quote == NO_ANSWER_CITE.quote

    late = walk(pack, until=c.NoAnswer, journey=no_answer)
    told = late.do(c.ParentRunningLate())
    assert told.findings[0].quote == LATE_CITE.quote
    late.wait(29)
    assert wait_findings(late.state, pack, late.now) == ()
    late.wait(1)
    assert wait_findings(late.state, pack, late.now)[0].quote == LATE_CITE.quote


def test_put_it_right_first_holds_the_knock_until_answered_yes(uplands: Pack) -> None:
    parked = ChecklistItem(
        id="parked_safely", stage="arrival", ask="Parked in a well-lit spot?",
        applies_if="always",
        answers={"yes": Rule((Then.CONTINUE,), "", None),
                 "no": Rule((Then.PUT_RIGHT,), "Move the car, then knock.",
                            Cite("During", "Park in a well-lit area"))})
    pack = replace(uplands, checklist=(parked, *uplands.checklist))
    visit = walk(pack, until=c.Answer)
    told = visit.do(c.Answer("parked_safely", False))
    assert told.findings[0].code == "put_right"
    assert visit.do(c.DoorAnswered("parent")).codes() == ("before_knocking_parked_safely",)
    visit.do(c.Answer("parked_safely", True))
    assert visit.do(c.DoorAnswered("parent")).accepted


@pytest.mark.parametrize(("minutes", "where"), [
    ("no_answer_minutes = 20", "wait.cite"),
    ("late_parent_minutes = 30", "wait.late_cite"),
])
def test_a_wait_limit_without_a_cite_is_refused(minutes: str, where: str) -> None:
    text = (Path(__file__).parents[2] / "fieldapp/policies/uplands-junior.toml").read_text()
    broken = text.replace("[wait]\n", f"[wait]\n{minutes}\n", 1)
    with pytest.raises(PackError) as error:
        parse_pack(broken, source="school.toml")
    assert error.value.where == where
