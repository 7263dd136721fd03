"""Every quote in a shipped policy pack is the policy's own words.

A pack's cites are what staff and the DSL are shown as the reason for a rule, so each quote
must be found in the policy text the pack names (`docs/policies/<pack.source>`). The match
ignores markdown emphasis (`*`), curly versus straight quotes, line breaks and case, and
nothing else: spelling, typos and punctuation must be the policy's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from fieldapp.domain.policy import Cite, Pack, load_pack, pack_ids

POLICIES = Path(__file__).resolve().parents[2] / "docs" / "policies"

_CURLY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


def normalise(text: str) -> str:
    """Drop emphasis markers, straighten quotes, collapse whitespace, ignore case."""
    return re.sub(r"\s+", " ", text.replace("*", "").translate(_CURLY)).strip().casefold()


def cites(node: object, where: str = "") -> Iterator[tuple[str, Cite]]:
    """Every Cite anywhere in a pack, with the field path that leads to it."""
    if isinstance(node, Cite):
        yield where, node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield from cites(getattr(node, field.name), f"{where}.{field.name}".lstrip("."))
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from cites(value, f"{where}.{key}")
    elif isinstance(node, tuple | list):
        for index, value in enumerate(node):
            yield from cites(value, f"{where}[{index}]")


def quoted_cites(pack: Pack) -> list[tuple[str, Cite]]:
    return [(where, cite) for where, cite in cites(pack) if cite.quote.strip()]


@pytest.fixture(params=pack_ids())
def pack(request: pytest.FixtureRequest) -> Pack:
    return load_pack(request.param)


def test_normalising_ignores_emphasis_quotes_line_breaks_and_case() -> None:
    policy = "Staff  **MUST** carry\nthe child\u2019s  *ID*."
    assert normalise("staff must carry the child's ID.") in normalise(policy)
    assert normalise("staff must carry the childs ID.") not in normalise(policy)


def test_walking_a_pack_finds_cites_inside_tables_lists_and_pairs() -> None:
    paths = {where for where, _ in cites(load_pack("uplands-junior"))}
    assert "door.unsupervised_child.cite" in paths
    assert "checklist[0].answers.no.cite" in paths
    assert "inside.reminders[0][1]" in paths
    assert "notice.exceptions[0].cite" in paths


def test_pack_id_is_its_file_name() -> None:
    for pack_id in pack_ids():
        assert load_pack(pack_id).id == pack_id, f"{pack_id}.toml declares another id"


def test_pack_names_a_policy_text_that_exists(pack: Pack) -> None:
    assert (POLICIES / pack.source).is_file(), f"{pack.id}: no policy text {pack.source}"


def test_pack_has_quotes_to_check(pack: Pack) -> None:
    assert quoted_cites(pack), f"{pack.id}: no cite quotes the policy"


def test_every_quote_is_the_policys_own_words(pack: Pack) -> None:
    policy = normalise((POLICIES / pack.source).read_text(encoding="utf-8"))
    missing = [
        f"{pack.id}: {where} ({cite.section}): {cite.quote!r}"
        for where, cite in quoted_cites(pack)
        if normalise(cite.quote) not in policy
    ]
    assert not missing, "quotes not found in the policy text:\n" + "\n".join(missing)


def test_every_school_setting_says_so(pack: Pack) -> None:
    unmarked = [
        f"{pack.id}: {where} ({cite.section})"
        for where, cite in cites(pack)
        if cite.is_school_setting and not cite.section.startswith("School setting:")
    ]
    assert not unmarked, "cites with no quote must be marked 'School setting:':\n" + "\n".join(
        unmarked
    )
