"""What the engine tells staff: findings that a screen can show as they are, and decisions.

Every finding names the policy it comes from (school and section) and quotes the policy's own
words, so staff on a doorstep and the DSL reading the record later see why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from fieldapp.domain.events import EventType
from fieldapp.domain.policy import Cite, Pack


class Kind(StrEnum):
    REFUSAL = "refusal"  # the command was not carried out
    INSTRUCTION = "instruction"  # do this now
    WARNING = "warning"  # a limit passed or a risk to weigh
    STEP = "step"  # a step the policy asks for next


@dataclass(frozen=True, slots=True)
class Finding:
    kind: Kind
    code: str  # stable, for screens and tests: "do_not_enter", "not_authorised", ...
    say: str  # what staff are told to do
    because: str  # why, in this visit's terms
    policy: str  # "Uplands Junior School, During the Visit"
    quote: str  # the policy's own words; empty for a school setting
    # Every consequence, each a code a button can act on ("do_not_enter", "contact_dsl",
    # "call_999", "inform_agencies", ...); the first is `code`'s when it comes from a pack rule.
    then: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.say} — {self.because} — {self.policy}"


def finding(kind: Kind, code: str, say: str, because: str, pack: Pack, cite: Cite) -> Finding:
    return Finding(kind=kind, code=code, say=say, because=because,
                   policy=f"{pack.school}, {cite.section}", quote=cite.quote)


@dataclass(frozen=True, slots=True)
class Draft:
    """An event the engine has decided on, before the shell stamps it with id, time and author."""

    type: EventType
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    """The events to record and what to tell staff. The shell records the drafts whatever the
    findings: a refusal has none, but for a refused risk assessment, recorded as refused."""

    drafts: tuple[Draft, ...] = ()
    findings: tuple[Finding, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.refusals

    @property
    def refusals(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.kind is Kind.REFUSAL)

    def codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.findings)


def refused(*refusals: Finding) -> Decision:
    """A refusal changes nothing: no drafts, only the reasons."""
    return Decision(drafts=(), findings=refusals)
