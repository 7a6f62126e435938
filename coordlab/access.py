"""Who may watch and change a lab, and the words that say so: decided by identity.

A lab nobody owns (one an admin started, or a test) is open to everyone. A
sandbox belongs to the browser that opened it: its owner changes it, anyone
with its address watches. A classroom's lab is watched by its instructor and by
the students who joined that classroom with its code; it is changed by its
instructor, and by the students the instructor hands control to. A closed
classroom's lab is its instructor's alone.

A browser is known by its owner token, a random string kept in its session
data (so it survives logging in, which changes the session key). Instructors
are active staff users in the group "Instructors" (or superusers); students
need no account.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from .models import Classroom, Sandbox, Student

INSTRUCTORS = "Instructors"
#: the session data key of a browser's owner token
OWNER = "owner"
#: join codes avoid letters and digits that look alike (0/O, 1/I/L, 5/S, 2/Z, 8/B)
CODE_ALPHABET = "ACDEFGHJKMNPQRTUVWXY34679"
CODE_LENGTH = 6
MAX_NAME_LENGTH = 40
NAME = re.compile(r"[\w .'’-]+")

ONLY_THE_INSTRUCTOR = ("Only the instructor changes the classroom's lab. Press “Try it yourself” for your own copy "
                       "of it.")
NOT_JOINED = ("This lab belongs to a classroom you have not joined: join it with the code your instructor shows, "
              "then open it from there.")
CLOSED = "This lab belongs to a classroom its instructor has closed: nobody else can watch or change it now."
SOMEONE_ELSES = ("You are watching someone else's lab: only its owner can change it. Open the scenario from the "
                 "catalog for a lab of your own.")


@dataclass(frozen=True)
class Person:
    """Whoever is on the other end of a request or a socket.

    ``owner`` is the browser's owner token, read from its session data: what its
    sandboxes and classroom seats belong to, and the key for limits per browser.
    None if the browser has none yet (it never opened a lab page, started a lab or
    joined a classroom) or sent no session cookie. ``name`` is the name the browser
    last joined a classroom with, else the user's name, else "".
    """

    owner: str | None
    user_id: int | None
    instructor: bool
    name: str


@dataclass(frozen=True)
class Access:
    """What one person may do with one lab now, and a sentence for each refusal.

    ``role`` is "everyone" (a lab nobody owns), "owner" or "watcher" (a sandbox),
    "instructor" or "student" (a classroom's lab), or "outsider" (a classroom's lab
    seen by someone who is neither). ``classroom`` is the code of the classroom the
    person teaches or joined, for those two roles only. ``open_classroom`` says that
    the lab is an open classroom's, whoever asks: for clients that come with the lab's
    id alone, such as terminals. ``name`` is the name the instructor sees for the
    person: their name in the classroom, else ``Person.name``.
    """

    can_change: bool
    role: str
    refusal: str = ""
    can_watch: bool = True
    watch_refusal: str = ""
    classroom: str = ""
    open_classroom: bool = False
    name: str = ""


async def is_instructor(user: Any) -> bool:
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    return bool(user.is_superuser or (user.is_staff and await user.groups.filter(name=INSTRUCTORS).aexists()))


async def person(session: Any, user: Any) -> Person:
    """The person behind a request's or a WebSocket scope's session and user (either may be None)."""
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    owner = await session.aget(OWNER) if session is not None else None
    name = await session.aget("name", "") if session is not None else ""
    return Person(owner, user.pk if authenticated else None, await is_instructor(user),
                  name or (user.get_username() if authenticated else ""))


async def owner_token(session: Any) -> str:
    """The browser's owner token, created in its session data on first need."""
    token: str | None = await session.aget(OWNER)
    if token is None:
        token = secrets.token_urlsafe(18)
        await session.aset(OWNER, token)
    return token


async def access_to(lab_id: str, who: Person) -> Access:
    """What ``who`` may do with a lab, now (control can be handed over at any time)."""
    classrooms = [room async for room in Classroom.objects.filter(lab_id=lab_id)]
    if classrooms:
        return await _classroom_access(classrooms, who)
    sandbox = await Sandbox.objects.filter(lab_id=lab_id).afirst()
    if sandbox is None:
        return Access(True, "everyone", name=who.name)
    if who.owner is not None and who.owner == sandbox.owner:
        return Access(True, "owner", name=who.name)
    return Access(False, "watcher", SOMEONE_ELSES, name=who.name)


async def _classroom_access(classrooms: list[Classroom], who: Person) -> Access:
    """A classroom lab: its instructor's always; a student's of an open classroom they joined."""
    open_rooms = [room for room in classrooms if not room.closed]
    is_open = bool(open_rooms)
    for room in classrooms:
        if who.user_id is not None and who.user_id == room.instructor_id:
            return Access(True, "instructor", classroom=room.code, open_classroom=is_open, name=who.name)
    student = None
    if open_rooms and who.owner is not None:
        student = await Student.objects.select_related("classroom").filter(
            classroom__in=open_rooms, owner=who.owner).afirst()
    if student is None:
        why = NOT_JOINED if is_open else CLOSED
        return Access(False, "outsider", why, can_watch=False, watch_refusal=why, open_classroom=is_open,
                      name=who.name)
    room = student.classroom
    if room.control == "everyone" or (room.control == "named" and student.has_control):
        return Access(True, "student", classroom=room.code, open_classroom=True, name=student.name)
    return Access(False, "student", ONLY_THE_INSTRUCTOR, classroom=room.code, open_classroom=True,
                  name=student.name)


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
