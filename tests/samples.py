"""A payload of the right shape for every event type (fieldapp.domain.payloads), for tests that
build events by hand; `sample(kind, **changes)` changes or adds fields."""

from __future__ import annotations

from typing import Any

from fieldapp.domain.events import EventType as E

STAFF = [{"staff_id": "staff-ann", "name": "Ann Patel", "safeguarding_trained": True,
          "knows_family": True, "mobile": "07700 900001"},
         {"staff_id": "staff-ben", "name": "Ben Okafor", "safeguarding_trained": False,
          "knows_family": False, "mobile": "07700 900002"}]

SAMPLES: dict[E, dict[str, Any]] = {
    E.PLANNED: {"pack_id": "uplands-junior", "child_ref": "UPN-0001", "child_name": "Sam",
                "address": "1 Example Street", "purpose": "Attendance",
                "scheduled_at": "2026-11-23T10:00:00+00:00", "staff": STAFF, "announced": True,
                "notice_exception": "", "first_visit": False, "lone_reason": "",
                "evening": False, "extended_duration_agreed_by": "",
                "safe_phrase": "blue umbrella"},
    E.RISK_ASSESSED: {"answers": {"dogs": False}, "level": "low", "mitigations": ""},
    E.AUTHORISED: {"step": "safeguarding_lead", "by": "Mrs Webster-Smith",
                   "role": "safeguarding_lead"},
    E.SIGNED_OUT: {"expected_return": "2026-11-23T11:00:00+00:00", "expected_leave": None,
                   "expected_arrival": None, "vehicles": ["AB12 CDE"], "told": ["reception"],
                   "safe_phrase_reminded": True, "checks": [],
                   "emergency_number": "01902 558870", "mobile": "07700 900001"},
    E.CHECKED_IN: {"note": "nearly there"},
    E.ARRIVED: {},
    E.NO_ANSWER: {},
    E.WAIT_STARTED: {},
    E.NOT_AT_HOME_NOTE_LEFT: {"text": "Sorry we missed you: please phone 01902 558870."},
    E.DOOR_ANSWERED: {"by": "parent"},
    E.CHECKLIST_ANSWERED: {"item": "id_shown", "answer": "yes"},
    E.ENTERED: {},
    E.DOORSTEP_ONLY: {"reason": "preferred"},
    E.CANCELLED: {"reason": "nobody came to the door", "reason_to": "head"},
    E.UPSTAIRS: {"room": "upstairs", "with_responsible_adult": True, "both_staff": True},
    E.ADULT_IN_ROOM: {"present": False},
    E.CONCERN_RAISED: {"kind": "disclosure", "note": "Bruise on left arm"},
    E.SAFE_PHRASE_USED: {"phrase": "have I left the red folder with you?",
                         "reception_phone": "01902 558870"},
    E.EMERGENCY_CALL: {"number": "999"},
    E.DURESS_ALERT: {"silent": True},
    E.ALERT_ACKNOWLEDGED: {"alert": "01HM65ZHS0000000000000004Q", "by": "Rita Reception",
                           "role": "reception"},
    E.OUTCOME_RECORDED: {"child_seen": True, "summary": "Sam seen, well", "agreements": [],
                         "actions": [{"what": "Phone mum on Friday", "by_whom": "Ann Patel"}]},
    E.LEFT: {"returning_directly": True, "visit_minutes": 25, "overran_minutes": None},
    E.RETURNED: {"to_school": True},
    E.DEBRIEFED: {"with_whom": "Line manager", "note": ""},
    E.FOLLOW_UP_CREATED: {"follow_up_id": "visit-1/letter", "kind": "letter",
                          "text": "Send a letter"},
    E.FOLLOW_UP_DONE: {"follow_up_id": "visit-1/letter"},
}


def sample(kind: E, **changes: Any) -> dict[str, Any]:
    return {**SAMPLES[kind], **changes}
