"""ZooKeeper's path rules (``org.apache.zookeeper.common.PathUtils.validatePath``)."""

from __future__ import annotations


def invalid_reason(path: object, sequential: bool = False) -> str | None:
    """Why ``path`` is not a valid znode path, in ZooKeeper's words, or None.

    A sequential create validates the path with a digit appended, so "/a/"
    is a valid prefix for "/a/0000000003".
    """
    if not isinstance(path, str):
        return "Path cannot be null"
    if sequential:
        path = path + "1"
    if len(path) == 0:
        return "Path length must be > 0"
    if path[0] != "/":
        return "Path must start with / character"
    if len(path) == 1:
        return None
    if path[-1] == "/":
        return "Path must not end with / character"
    previous = "/"
    for index in range(1, len(path)):
        char = path[index]
        reason = None
        if char == "\0":
            reason = f"null character not allowed @{index}"
        elif char == "/" and previous == "/":
            reason = f"empty node name specified @{index}"
        elif char == "." and previous == ".":
            if path[index - 2] == "/" and (index + 1 == len(path) or path[index + 1] == "/"):
                reason = f"relative paths not allowed @{index}"
        elif char == "." and path[index - 1] == "/" and (index + 1 == len(path) or path[index + 1] == "/"):
            reason = f"relative paths not allowed @{index}"
        elif ("\u0000" < char <= "\u001f") or ("\u007f" <= char <= "\u009f") \
                or ("\ud800" <= char <= "\uf8ff") or ("\ufff0" <= char <= "\uffff"):
            reason = f"invalid character @{index}"
        if reason is not None:
            return f'Invalid path string "{path}" caused by {reason}'
        previous = char
    return None


def parent_of(path: str) -> str:
    """"/a/b" → "/a"; "/a" → "/"."""
    cut = path.rfind("/")
    return path[:cut] if cut > 0 else "/"


def name_of(path: str) -> str:
    return path[path.rfind("/") + 1:]
