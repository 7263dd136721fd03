"""The enrolment slip: the one-time code and the hub key's 128-bit check, typed by a person."""

from __future__ import annotations

import pytest

from fieldapp.sync.slip import CHECK_LENGTH, SlipError, key_check, read_slip, slip_code

KEY = bytes(range(32))


def test_a_slip_reads_back_however_it_is_typed() -> None:
    slip = slip_code("ABCDE-FGHJK", KEY)
    assert len(key_check(KEY)) == CHECK_LENGTH and slip.count("-") == 8
    assert read_slip(slip) == ("ABCDEFGHJK", key_check(KEY))
    typed = slip.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert read_slip(typed) == ("ABCDEFGHJK", key_check(KEY))
    assert key_check(bytes(32)) != key_check(KEY)


@pytest.mark.parametrize(("text", "says"), [
    ("ABCD", "36 letters and digits"), ("A" * 35 + "U", "not on the slip"),
    ("A" * 35 + "é", "not on the slip"),
])
def test_a_mistyped_slip_is_refused_with_what_to_check(text: str, says: str) -> None:
    with pytest.raises(SlipError, match=says):
        read_slip(text)


def test_a_slip_is_made_only_from_a_whole_code() -> None:
    with pytest.raises(SlipError, match="10 characters"):
        slip_code("ABC", KEY)
