"""Path validation, as ``PathUtils.validatePath`` (zookeeper-server/.../common/PathUtils.java)."""

from __future__ import annotations

import pytest

from zookeeper_app.model.paths import invalid_reason, parent_of


@pytest.mark.parametrize("path", ["/", "/a", "/a/b", "/a.b", "/..a", "/a/...", "/zookeeper"])
def test_valid(path):
    assert invalid_reason(path) is None


@pytest.mark.parametrize(("path", "reason"), [
    ("", "Path length must be > 0"),
    ("a", "Path must start with / character"),
    ("/a/", "Path must not end with / character"),
    ("//a", "empty node name specified @1"),
    ("/a//b", "empty node name specified @3"),
    ("/a/./b", "relative paths not allowed @3"),
    ("/a/../b", "relative paths not allowed @4"),
    ("/a/.", "relative paths not allowed @3"),
    ("/a\u0000b", "null character not allowed @2"),
    ("/a\u0001", "invalid character @2"),
    ("/\ud800", "invalid character @1"),
])
def test_invalid(path, reason):
    assert reason in invalid_reason(path)


def test_a_sequential_prefix_may_end_with_a_slash():
    assert invalid_reason("/a/", sequential=True) is None


def test_parent():
    assert (parent_of("/a/b"), parent_of("/a")) == ("/a", "/")
