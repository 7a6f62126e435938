"""The model's client rewrites paths as kazoo 2.11 does before sending them.

kazoo.protocol.paths: ``_prefix_root(chroot, path, trailing)`` is
``normpath(join(chroot or "/", path.lstrip("/")), trailing)``, and ``normpath`` drops empty
components, raises ValueError on "." and "..", keeps the leading "/" and, only with
``trailing`` (a sequential create), the trailing one. The golden e_errors and j files check
the rows the real kazoo ran; these check the rest of kazoo's client code around it: which
calls rewrite, where the error surfaces, makepath/ensure_path and transactions.
"""

from __future__ import annotations

import pytest

from zookeeper_app.model import Ensemble, NodeExistsError, NoNodeError
from zookeeper_app.model.kazoo import normpath, prefix_root


@pytest.fixture
def zk():
    ens = Ensemble(servers=1, seed=3, tick_time=200)
    ens.run_for(1.0)
    client = ens.client("A")
    client.start()
    return client


@pytest.mark.parametrize(("path", "trailing", "sent"), [
    ("/", False, "/"), ("", False, "/"), ("//", False, "/"), ("/", True, "/"),
    ("a", False, "/a"), ("a/b/", False, "/a/b"), ("a/b/", True, "/a/b/"), ("//a//b//", True, "/a/b/"),
    ("/a/.b/..c/...", False, "/a/.b/..c/..."),
])
def test_prefix_root(path, trailing, sent):
    assert prefix_root(path, trailing) == sent


@pytest.mark.parametrize("path", ["/a/.", "./a", "/a/../b", "..", "/a/./"])
def test_relative_components_are_refused(path):
    with pytest.raises(ValueError, match="relative paths not allowed"):
        prefix_root(path)


def test_normpath_keeps_a_relative_path_relative():
    assert normpath("a//b/") == "a/b" and normpath("a//b/", trailing=True) == "a/b/"


def test_every_call_sends_the_rewritten_path(zk):
    assert zk.create("a") == "/a"
    assert zk.create("a//b/") == "/a/b"
    assert zk.set("a/b/", b"x").version == 1
    assert zk.get("//a/b") == (b"x", zk.exists("/a/b"))
    assert zk.get_children("a/") == ["b"]
    assert zk.sync("a//b") == "/a/b"
    assert zk.delete("a/b/") is True and zk.exists("a/b") is None
    with pytest.raises(NodeExistsError):
        zk.create("")  # sent as "/"


def test_a_sequential_create_keeps_the_trailing_slash(zk):
    zk.create("/s")
    assert zk.create("s/", sequence=True) == "/s/0000000000"
    assert zk.create("/s/n-", sequence=True) == "/s/n-0000000001"


def test_a_transaction_rewrites_without_the_trailing_slash(zk):
    """kazoo's TransactionRequest.create calls _prefix_root without ``trailing``: "/s/" is sent as "/s"."""
    zk.create("/s")
    t = zk.transaction()
    t.create("/s/", sequence=True)
    t.check("s", 0)
    assert t.commit() == ["/s0000000001", True]  # the root has counted one create (/s)


def test_watches_are_kept_under_the_path_sent(zk):
    fired = []
    zk.create("/w")
    zk.get("w/", watch=fired.append)
    zk.set("/w", b"1")
    zk.ensemble.run_for(0.2)
    assert [(event.type, event.path) for event in fired] == [("CHANGED", "/w")]


def test_a_refused_path_sends_nothing(zk):
    before = zk.node.next_xid
    for call in (lambda: zk.get("/a/../b"), lambda: zk.exists("/."), lambda: zk.get_children(".."),
                 lambda: zk.set("/a/./b", b""), lambda: zk.delete("/a/.."), lambda: zk.sync("/a/../b")):
        with pytest.raises(ValueError):
            call()
    assert zk.node.next_xid == before


def test_create_async_reports_a_refused_path_on_its_result(zk):
    """kazoo rewrites a create's path inside do_create, which puts the ValueError on the async result."""
    result = zk.create_async("/a/./b")
    assert result.ready()
    with pytest.raises(ValueError, match="relative paths not allowed"):
        result.get()
    with pytest.raises(ValueError):
        zk.get_async("/a/./b")  # the other calls rewrite before creating the result


@pytest.mark.parametrize("call", ["create", "get", "exists", "get_children", "delete"])
def test_a_path_that_is_not_a_string_is_a_type_error(zk, call):
    with pytest.raises(TypeError, match="Invalid type for 'path'"):
        getattr(zk, call)(b"/a")


def test_makepath_and_ensure_path_take_relative_paths(zk):
    assert zk.create("x/y/z", b"v", makepath=True) == "/x/y/z"
    assert zk.ensure_path("p/q") == "/p/q"  # kazoo answers the path its last create returned
    assert zk.ensure_path("p/q/") is True  # there already
    assert zk.create("/m/", sequence=True, makepath=True) == "/m/0000000000"


def test_ensure_path_with_a_trailing_slash_does_not_make_the_parents(zk):
    """kazoo splits "/u/v/" into ("/u/v", ""): an empty name, so it creates "/u/v/" (sent "/u/v") at once."""
    with pytest.raises(NoNodeError):
        zk.ensure_path("/u/v/")


def test_recursive_delete(zk):
    zk.create("/r/a/b", makepath=True)
    zk.create("/r/c")
    assert zk.delete("r/", recursive=True) is None
    assert zk.exists("/r") is None
    assert zk.delete("/r", recursive=True) is True
    with pytest.raises(TypeError, match="recursive"):
        zk.delete("/r", recursive=1)
