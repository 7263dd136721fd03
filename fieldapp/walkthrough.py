"""`fieldapp-walkthrough`: walk DESIGN.md's journeys through the engine and print what staff
are told at each step, for any school's pack; or check a school's own pack file.

The engine alone, in a terminal: the same rules the phone app and the hub apply.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from fieldapp.domain.commands import CommandError
from fieldapp.domain.findings import Kind
from fieldapp.domain.guide import WhatNow, what_now
from fieldapp.domain.journeys import JOURNEYS
from fieldapp.domain.lifecycle import IllegalTransition
from fieldapp.domain.policy import Pack, PackError, load_pack, pack_ids
from fieldapp.domain.simulate import SimulatedVisit
from fieldapp.domain.timers import guidance

MARK = {Kind.REFUSAL: "REFUSED", Kind.INSTRUCTION: "DO", Kind.WARNING: "WARNING",
        Kind.STEP: "NEXT"}


def walk(pack: Pack, journey: str, out: list[str]) -> None:
    visit = SimulatedVisit(pack, datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    out.append(f"\n== {pack.school}: {journey} ==")
    for label, minutes, command in JOURNEYS[journey](visit):
        try:
            decision = visit.do(command, after_minutes=minutes)
        except (CommandError, IllegalTransition) as error:
            out.append(f"{visit.now:%H:%M}  {label}\n        ERROR {error}")
            continue
        out.append(f"{visit.now:%H:%M}  {label}")
        for found in (*decision.findings, *guidance(visit.state, pack, visit.now)):
            out.append(f"        {MARK[found.kind]}: {found.say}")
            out.append(f"            because {found.because} ({found.policy})")
        guide = what_now(visit.state, pack, visit.now, by=visit.author)
        out.append(f"        {now_line(guide)}")
    out.append(f"        -> visit is now '{visit.state.phase.value}'")


def now_line(guide: WhatNow) -> str:
    """What a phone screen would show next, in one line."""
    parts = [f"now: {guide.stage.value}"]
    if guide.standing:
        parts.append("standing: " + "; ".join(f.say for f in guide.standing))
    if guide.question is not None:
        labels = " / ".join(choice.label for choice in guide.question.choices)
        parts.append(f"next question: {guide.question.ask} ({labels})")
    parts.append("open: " + ", ".join(guide.open))
    return " | ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldapp-walkthrough", description=__doc__)
    parser.add_argument("--pack", action="append", choices=pack_ids(),
                        help="a school's pack (repeatable; default: uplands-junior)")
    parser.add_argument("--journey", action="append", choices=sorted(JOURNEYS),
                        help="which journey (repeatable; default: all)")
    parser.add_argument("--check", metavar="FILE", help="validate a school's own pack file")
    args = parser.parse_args(argv)
    if args.check:
        try:
            pack = load_pack(args.check if args.check.endswith(".toml") else args.check + ".toml")
        except PackError as error:
            print(f"pack is broken: {error}", file=sys.stderr)
            return 1
        print(f"{args.check}: pack '{pack.id}' for {pack.school} is valid")
        return 0
    out = ["Home Visits — the visit engine, walked through the schools' policies.",
           "(The same engine runs in the school hub, `make run`; the phone app's screens are "
           "still to come.)",
           "Packs: " + ", ".join(f"{p} ok" for p in pack_ids() if load_pack(p))]
    for pack_id in args.pack or ["uplands-junior"]:
        for journey in args.journey or list(JOURNEYS):
            walk(load_pack(pack_id), journey, out)
    out.append("\nMore: fieldapp-walkthrough --pack holy-cross-primary --journey no-answer;"
               " --check my-school.toml")
    print("\n".join(out))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
