"""The enrolment slip: what a person types (or scans) into a new phone. Pure.

A slip carries one string, the *slip code*: the hub's one-time enrolment code (10 characters)
followed by a 128-bit check of the hub's public key (26 characters), printed in groups of four:

    K7Q2-M9XH-4T3F-9AK2-MD7X-...

The phone sends only the one-time code to the hub; with the hub's answer comes its public key,
which the phone takes only if its check is the slip's, and then pins whole. So a proxy that
intercepts TLS at enrolment cannot slip in a key of its own: the key that seals visit records
is the one on the paper, whatever happens to TLS.

Letters are read as Crockford's base32 reads them: any case, O as 0, I and L as 1; spaces,
dashes and slashes are ignored.
"""

from __future__ import annotations

import hashlib
from typing import Final

CODE_LENGTH: Final = 10  # the hub's one-time code (fieldapp.hub.directory)
CHECK_LENGTH: Final = 26  # 128 bits in base32
_CROCKFORD: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_READ_AS: Final = str.maketrans({"O": "0", "I": "1", "L": "1"})
_DOMAIN: Final = b"home-visits hub key check v1\x00"


class SlipError(ValueError):
    """A slip code that cannot be read: says what to check on the paper."""


def key_check(hub_public: bytes) -> str:
    """The hub key's 128-bit check, as the slip prints it (26 characters)."""
    number = int.from_bytes(hashlib.sha256(_DOMAIN + hub_public).digest()[:16], "big")
    return "".join(_CROCKFORD[(number >> (5 * i)) & 31] for i in reversed(range(CHECK_LENGTH)))


def slip_code(code: str, hub_public: bytes) -> str:
    """The string to print on the slip: the one-time code, then the key's check."""
    text = _normalised(code) + key_check(hub_public)
    return "-".join(text[i:i + 4] for i in range(0, len(text), 4))


def read_slip(text: str) -> tuple[str, str]:
    """(the one-time code, the key check) from what the person typed."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -/\t\n")
    if len(cleaned) != CODE_LENGTH + CHECK_LENGTH:
        raise SlipError(f"the slip code has {CODE_LENGTH + CHECK_LENGTH} letters and digits "
                        f"(got {len(cleaned)}): check it against the slip")
    code, check = cleaned[:CODE_LENGTH], cleaned[CODE_LENGTH:].translate(_READ_AS)
    if not check.isascii() or any(ch not in _CROCKFORD for ch in check):
        raise SlipError("the slip code has a character that is not on the slip: check it")
    return code, check


def _normalised(code: str) -> str:
    cleaned = code.strip().upper().replace("-", "").replace(" ", "")
    if len(cleaned) != CODE_LENGTH:
        raise SlipError(f"an enrolment code has {CODE_LENGTH} characters")
    return cleaned
