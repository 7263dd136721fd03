"""`make run`'s walkthrough prints what staff are told, and checks a school's own pack."""

from __future__ import annotations

from pathlib import Path

import pytest

from fieldapp.walkthrough import main

PACKS = Path(__file__).parents[2] / "fieldapp" / "policies"


def test_the_default_walkthrough_shows_every_journey_with_its_policy_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "Packs: blue-coat-secondary ok, hart-hill-nursery ok" in out
    for journey in ("let-in", "no-answer", "child-at-door"):
        assert f"== Uplands Junior School: {journey} ==" in out
    assert "REFUSED: Do not enter." in out
    assert "because the door was answered by a child on their own (Uplands Junior School, " \
           "During the Visit)" in out
    assert out.count("-> visit is now 'debriefed'") == 3


def test_a_chosen_school_and_journey(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--pack", "holy-cross-primary", "--journey", "no-answer"]) == 0
    out = capsys.readouterr().out
    assert "DO: Wait at most 20 minutes, then cancel the visit." in out
    assert "Uplands" not in out.split("Packs:")[1].split("\n", 1)[1]


def test_checking_a_good_pack(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check", str(PACKS / "kings-academy-gomer.toml")]) == 0
    assert "pack 'kings-academy-gomer' for King's Academy Gomer is valid" in capsys.readouterr().out


def test_checking_a_broken_pack_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "my-school.toml"
    text = (PACKS / "uplands-junior.toml").read_text(encoding="utf-8")
    broken.write_text(text.replace("min_staff = 2", "min_staf = 2"), encoding="utf-8")
    assert main(["--check", str(broken)]) == 1
    assert capsys.readouterr().err == ("pack is broken: my-school.toml: pair.min_staff: expected "
                                       "a whole number (missing; is 'min_staf' a misspelling?)\n")


def test_an_engine_error_in_a_journey_is_shown_not_raised(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from fieldapp import walkthrough
    from fieldapp.domain import commands as c

    def broken(visit):  # type: ignore[no-untyped-def]
        yield "Went in without arriving", 0, c.Enter()

    monkeypatch.setitem(walkthrough.JOURNEYS, "let-in", broken)
    assert main(["--journey", "let-in"]) == 0
    assert "ERROR cannot record 'entered' while the visit is 'new'" in capsys.readouterr().out
