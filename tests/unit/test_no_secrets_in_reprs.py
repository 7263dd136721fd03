"""Bearer tokens and passwords never show in a repr: a log line, a traceback's locals or a
debugger's view of a session, an enrolment or a request body prints everything else."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fieldapp.console.shell import ConsoleShell
from fieldapp.hub import accounts, directory
from fieldapp.hub.console_api import SignedIn, SignIn, User
from fieldapp.hub.schemas import Enrolled, EnrolRequest
from fieldapp.sync import client

SECRET = "s3cret-t0ken-do-not-print"
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
USER = accounts.ConsoleUser("uplands", "staff-dsl", "Dee", "dsl")

HOLDERS = {
    "a phone's enrolment at the hub": lambda: directory.Enrolment(
        directory.Device("dev-1", "uplands", "staff-ann"), SECRET),
    "a console session": lambda: accounts.Session(SECRET, USER, NOW, SECRET),
    "the phone's enrolment": lambda: client.Enrolment(
        "https://hub", "dev-1", SECRET, "staff-ann", "uplands", "Uplands", "a2V5"),
    "the console's shell": lambda: ConsoleShell(service=None, token=SECRET),  # type: ignore[arg-type]
    "a sign-in": lambda: SignIn(school_id="uplands", staff_id="staff-dsl", password=SECRET),
    "a signed-in answer": lambda: SignedIn(token=SECRET, expires_at=NOW, device=SECRET,
                                           user=User(school_id="u", staff_id="s", name="n",
                                                     role="dsl")),
    "an enrolment request": lambda: EnrolRequest(code="ABCD-EFGH",
                                                 previous_token=SECRET.replace("3", "x")),
    "an enrolment answer": lambda: Enrolled(
        protocol=1, device_id="dev-1", token=SECRET, school_id="u", school_name="U",
        staff_id="s", pack_id="p", pack="", pack_version="1", hub_public_key="a2V5",
        hub_key_fingerprint="0" * 16),
}


@pytest.mark.parametrize("make", HOLDERS.values(), ids=HOLDERS.keys())
def test_no_token_or_password_is_in_a_repr(make: object) -> None:
    holder = make()  # type: ignore[operator]
    shown = repr(holder) + str(holder)
    assert SECRET not in shown and SECRET.replace("3", "x") not in shown, shown
    assert type(holder).__name__ in repr(holder)  # the rest still shows
