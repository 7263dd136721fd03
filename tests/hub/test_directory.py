"""Schools, staff and devices: every refusal is clear and scoped to the school."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from fieldapp.domain.events import EventType
from fieldapp.hub.directory import Directory, DirectoryError, EnrolmentRefused
from fieldapp.hub.events_store import EventStore
from fieldapp.sync.protocol import Push
from tests.hub.test_ingest import event

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def directory(engine: Engine) -> Directory:
    directory = Directory(engine)
    directory.add_school("uplands", "Uplands", "uplands-junior")
    directory.add_school("hart-hill", "Hart Hill", "hart-hill-nursery")
    directory.add_staff("uplands", "staff-ann", "Ann", "staff")
    directory.add_staff("hart-hill", "staff-dee", "Dee", "dsl")
    return directory


def test_staff_roles_are_the_known_ones(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="reception, dsl, staff, admin"):
        directory.add_staff("uplands", "staff-x", "X", "janitor")


def test_an_unknown_school_is_named_as_such(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="no school 'nowhere'"):
        directory.school("nowhere")


def test_a_code_is_only_for_a_member_of_that_schools_staff(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="no such member of staff"):
        directory.enrol_code("uplands", "staff-dee", NOW)


def test_a_device_is_revoked_only_by_its_own_school(directory: Directory) -> None:
    device = directory.enrol(directory.enrol_code("uplands", "staff-ann", NOW), "p", NOW).device
    with pytest.raises(DirectoryError, match="no such device"):
        directory.revoke("hart-hill", device.id, NOW)
    directory.revoke("uplands", device.id, NOW)


def test_two_phones_racing_for_one_code_enrol_one_device(directory: Directory) -> None:
    code = directory.enrol_code("uplands", "staff-ann", NOW)
    outcomes: list[str] = []

    def phone() -> None:
        try:
            directory.enrol(code, "phone", NOW)
            outcomes.append("enrolled")
        except EnrolmentRefused:
            outcomes.append("refused")
        except Exception as error:  # a database lock surfacing as an error is a failure
            outcomes.append(repr(error))

    threads = [threading.Thread(target=phone) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["enrolled", "refused", "refused", "refused"]


def test_a_plan_without_a_staff_list_puts_nobody_on_the_visit(engine: Engine) -> None:
    store = EventStore(engine)
    odd = replace(event(1), type=EventType.PLANNED, payload={"staff": "everyone"})
    store.ingest("uplands", "phone-a", Push(events=(odd,)))
    assert store.since_for_staff("uplands", "everyone", 0).events == []


@pytest.mark.parametrize(("school_id", "name"), [("", "Uplands"), ("up\x00lands", "Uplands"),
                                                 ("x" * 65, "Uplands"), ("uplands-2", " ")])
def test_a_school_needs_an_id_and_a_name_that_can_be_kept(directory: Directory, school_id: str,
                                                          name: str) -> None:
    with pytest.raises(DirectoryError, match="a school id is 1 to 64 printable characters"):
        directory.add_school(school_id, name, "uplands-junior")


@pytest.mark.parametrize(("staff_id", "name", "mobile", "words"), [
    ("", "Ann", "", "a staff id is 1 to 64"), ("ann\x00", "Ann", "", "a staff id is 1 to 64"),
    ("ann-2", "  ", "", "a name is 1 to 200"),
    ("ann-2", "Ann", "0" * 33, "a mobile number is 1 to 32")])
def test_a_member_of_staff_needs_text_that_can_be_kept(directory: Directory, staff_id: str,
                                                       name: str, mobile: str,
                                                       words: str) -> None:
    with pytest.raises(DirectoryError, match=words):
        directory.add_staff("uplands", staff_id, name, "staff", mobile=mobile)


def test_staff_ids_are_unique_across_the_hub_and_say_so(directory: Directory) -> None:
    with pytest.raises(DirectoryError, match="unique across the hub"):
        directory.add_staff("uplands", "staff-dee", "Another Dee", "staff")
    with pytest.raises(DirectoryError, match="no school 'nowhere'"):
        directory.add_staff("nowhere", "staff-eve", "Eve", "staff")
    directory.add_staff("uplands", "staff-eve", "Eve", "staff", mobile=" 07700 900123 ")
    assert directory.contacts("uplands")["staff-eve"] == ("Eve", "07700 900123")
