"""Who may change a lab, and the words that say so.

A lab nobody owns (one an admin started, or a test) is open to everyone. A
sandbox belongs to the browser session that opened it: its owner changes it,
anyone with its address watches. A classroom's lab is changed by its
instructor, and by the students the instructor hands control to.

Instructors are active staff users in the group "Instructors" (or superusers);
students need no account, only a display name kept in their session.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from .models import Classroom, Sandbox

INSTRUCTORS = "Instructors"
#: join codes avoid letters and digits that look alike (0/O, 1/I/L, 5/S, 2/Z, 8/B)
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
MAX_NAME_LENGTH = 40
NAME = re.compile(r"[\w .'’-]+")


@dataclass(frozen=True)
class Person:
    """Whoever is on the other end of a request or a socket."""

    session_key: str | None
    user_id: int | None
    instructor: bool
    name: str


@dataclass(frozen=True)
class Access:
    can_change: bool
    role: str  # "everyone", "owner", "watcher", "instructor", "student"
    refusal: str = ""
    classroom: str = ""


OPEN = Access(True, "everyone")


async def is_instructor(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or (user.is_staff and await user.groups.filter(name=INSTRUCTORS).aexists()))


async def person(session: Any, user: Any) -> Person:
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    instructor = await is_instructor(user)
    name = (session.get("name") if session is not None else None) or (user.get_username() if authenticated else "")
    return Person(session.session_key if session is not None else None, user.pk if authenticated else None,
                  instructor, name)


async def access_to(lab_id: str, who: Person) -> Access:
    """What ``who`` may do with a lab, now (control can be handed over at any time)."""
    classroom = await Classroom.objects.filter(lab_id=lab_id, closed=False).afirst()
    if classroom is not None:
        if who.user_id is not None and who.user_id == classroom.instructor_id:
            return Access(True, "instructor", classroom=classroom.code)
        if classroom.control == "everyone" or (classroom.control == "named" and who.name in classroom.controllers):
            return Access(True, "student", classroom=classroom.code)
        return Access(False, "student", "Only the instructor changes the classroom's lab. Press “Try it yourself” "
                                        "for your own copy of it.", classroom=classroom.code)
    sandbox = await Sandbox.objects.filter(lab_id=lab_id).afirst()
    if sandbox is None:
        return OPEN
    if who.session_key is not None and who.session_key == sandbox.session_key:
        return Access(True, "owner")
    return Access(False, "watcher", "You are watching someone else's lab: only its owner can change it. Open the "
                                    "scenario from the catalog for a lab of your own.")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def clean_code(raw: object) -> str:
    """A join code as typed (any case, spaces or dashes) → its canonical form, or ValueError."""
    code = re.sub(r"[\s-]", "", str(raw or "")).upper()
    if len(code) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in code):
        raise ValueError(f"A join code is {CODE_LENGTH} letters and digits, as your instructor shows it.")
    return code


def clean_name(raw: object) -> str:
    """A display name: 1 to 40 letters, digits, spaces and .'-; anything else is refused with a reason."""
    name = " ".join(str(raw or "").split())
    if not name:
        raise ValueError("Please type your name, as your instructor should see it.")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"That name is too long: at most {MAX_NAME_LENGTH} characters.")
    if not NAME.fullmatch(name):
        raise ValueError("A name is letters, digits, spaces, dots, apostrophes and dashes only.")
    return name
