"""The screens' own words: what each stage and action is called on a button or a title. No
policy here: what is allowed, refused or required comes from the engine's "what now?"."""

from __future__ import annotations

from datetime import timedelta, tzinfo
from typing import Final

from fieldapp.domain.guide import Stage, Timer

STAGE: Final[dict[Stage, str]] = {
    Stage.PLAN: "Planning", Stage.ASSESS_RISK: "Risk assessment",
    Stage.AUTHORISE: "Waiting for the school's sign-off", Stage.SIGN_OUT: "Sign-out",
    Stage.TRAVELLING: "On the way", Stage.BEFORE_KNOCKING: "Before you knock",
    Stage.KNOCK: "At the door", Stage.WAITING: "No answer yet", Stage.AT_DOOR: "On the doorstep",
    Stage.INSIDE: "Inside the home", Stage.DOORSTEP: "Visit on the doorstep",
    Stage.NOT_AT_HOME: "Not at home", Stage.CALLED_OFF: "Called off: get away safely",
    Stage.LEFT: "On the way back", Stage.RETURNED: "Back at school",
    Stage.DEBRIEFED: "Debriefed", Stage.CANCELLED: "Cancelled",
}

ACTION: Final[dict[str, str]] = {
    "assess_risk": "Risk assessment", "authorise": "Sign off", "cancel": "Cancel the visit",
    "sign_out": "Sign out", "check_in": "Check in with the office", "arrive": "We have arrived",
    "door_answered": "Someone answered the door", "no_answer": "Nobody answers",
    "parent_running_late": "The parent is running late", "leave_note": "Note left",
    "enter": "Go in", "doorstep_only": "Stay on the doorstep", "go_upstairs": "Go upstairs",
    "enter_bedroom": "A bedroom", "adult_in_room": "The parent left the room",
    "raise_concern": "Record a concern", "record_outcome": "Record the outcome",
    "leave": "We have left", "return": "Back at school", "debrief": "Debrief",
    "create_follow_up": "Add a follow-up", "complete_follow_up": "A follow-up is done",
    "plan": "Plan", "use_safe_phrase": "Call the office", "emergency_call": "999",
}
# Shown in the help bar, not among the stage's actions.
HELP: Final = frozenset({"use_safe_phrase", "emergency_call"})
# The school's to do at the console, not the visiting pair's: the phone shows them as waited for.
AT_SCHOOL: Final = frozenset({"plan", "authorise"})
# Sign-out checks that ask for a charged phone: the form shows the battery's level beside them.
CHARGED: Final = frozenset({"checks.charged_mobile"})
# What a stopping answer's full-screen card offers (those the visit allows then).
AFTER_A_STOP: Final = ("leave", "doorstep_only", "cancel", "raise_concern")
# Confirmed before they are sent (not harmless to undo).
CONFIRM: Final = frozenset({"leave", "cancel", "return"})


def action_words(name: str, back_in_room: bool = False) -> str:
    if name == "adult_in_room" and back_in_room:
        return "The parent is back in the room"
    return ACTION.get(name, name.replace("_", " ").capitalize())


def minutes(span: timedelta) -> str:
    total = int(span.total_seconds())
    if total < 3600:
        return f"{total // 60}:{total % 60:02d}"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def timer_words(timer: Timer, zone: tzinfo) -> str:
    """"Visit 12:30 — usual 45 min, most 60 min", "Waiting 3:10 — most 5 min",
    "Out 1 h 05 min — back at school by 11:40"."""
    name = {"wait": "Waiting", "visit": "Visit", "back": "Out"}.get(timer.name, timer.name)
    limits = []
    if timer.normal is not None:
        limits.append(f"usual {int(timer.normal.total_seconds() // 60)} min")
    if timer.name == "back" and timer.ends is not None:
        limits.append(f"back at school by {timer.ends.astimezone(zone):%H:%M}")
    elif timer.limit is not None:
        limits.append(f"most {int(timer.limit.total_seconds() // 60)} min")
    return f"{name} {minutes(timer.elapsed)}" + (f" — {', '.join(limits)}" if limits else "")
