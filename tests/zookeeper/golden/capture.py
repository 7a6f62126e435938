#!/usr/bin/env python3
"""Capture golden behaviour of a REAL ZooKeeper 3.8 server.

Run with a Python that has kazoo installed, e.g.

    python3 -m venv /tmp/zkvenv && /tmp/zkvenv/bin/pip install kazoo
    /tmp/zkvenv/bin/python tests/zookeeper/golden/capture.py

The script starts its own ZooKeeper server(s) on 127.0.0.1 (Debian package
``zookeeper``, jars in /usr/share/java), runs every scenario with kazoo,
stops the servers and writes one JSON file per scenario next to this file.

Normalisation (see README.md):
  * zxids are written relative to a per-scenario base (``*_rel`` keys); the
    base is the zxid of the first write of the scenario (so that op has
    rel 0).  A raw zxid of 0 is written as null.  ``zxid_epochs_same_as_base``
    says whether all non-zero zxids of a Stat have the same epoch (zxid>>32)
    as the base.  Scenario files for a freshly started server (j, k) also
    hold absolute zxids because those are deterministic there.
  * ctime/mtime: only ``ctime_eq_mtime`` / ``mtime_gt_ctime`` booleans.
  * session ids / ephemeralOwner: replaced by the label of the client that
    owns the session ("session:A"), 0 stays 0.
  * data (bytes) is written as a UTF-8 string (all test data is ASCII).

All waits are bounded; a watchdog kills everything after WATCHDOG_S seconds.
"""

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import kazoo
import kazoo.exceptions as kex
import kazoo.protocol.connection as kconn
from kazoo.client import KazooClient
from kazoo.protocol import serialization as ser
from kazoo.protocol.paths import _prefix_root
from kazoo.protocol.states import ZnodeStat
from kazoo.security import OPEN_ACL_UNSAFE

OUT_DIR = os.path.dirname(os.path.abspath(__file__))
WORK = "/tmp/zkgolden"
JAVA = shutil.which("java") or "/usr/bin/java"
CLASSPATH = ":".join([
    "/etc/zookeeper/conf",
    "/usr/share/java/zookeeper.jar",       # manifest Class-Path pulls deps
    "/usr/share/java/slf4j-simple.jar",    # so that server logs are visible
])
TICK_MS = 200
WATCHDOG_S = 900

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
log = logging.getLogger("capture")
log.setLevel(logging.INFO)

SERVERS = []  # every ZkServer started, for cleanup


# --------------------------------------------------------------------------
# wire-level instrumentation of kazoo
# --------------------------------------------------------------------------
WIRE = []        # dicts: client label, kind (reply|event), xid, zxid, err ...
LABELS = {}      # id(KazooClient) -> label
SESSIONS = {}    # session id -> label
CONNECTS = []    # {"session_id", "time_out"} from every ConnectResponse

EVENT_NAMES = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted",
               3: "NodeDataChanged", 4: "NodeChildrenChanged"}
STATE_NAMES = {-1: "Unknown", 0: "Disconnected", 3: "SyncConnected",
               4: "AuthFailed", 5: "ConnectedReadOnly", -112: "Expired"}

_orig_read_response = kconn.ConnectionHandler._read_response
_orig_read_watch = kconn.ConnectionHandler._read_watch_event
_orig_connect_deser = ser.Connect.deserialize.__func__


def _read_response(self, header, buffer, offset):
    try:
        req = self.client._pending[0][0]
    except IndexError:
        req = None
    WIRE.append({"client": LABELS.get(id(self.client)), "kind": "reply",
                 "xid": header.xid, "zxid": header.zxid, "err": header.err,
                 "req": type(req).__name__,
                 "path": getattr(req, "path", None)})
    return _orig_read_response(self, header, buffer, offset)


def _read_watch_event(self, buffer, offset):
    w, _ = ser.Watch.deserialize(buffer, offset)
    WIRE.append({"client": LABELS.get(id(self.client)), "kind": "event",
                 "type": w.type, "type_name": EVENT_NAMES.get(w.type),
                 "state": w.state, "state_name": STATE_NAMES.get(w.state),
                 "path": w.path})
    return _orig_read_watch(self, buffer, offset)


def _connect_deser(cls, b, off):
    r = _orig_connect_deser(cls, b, off)
    CONNECTS.append({"session_id": r[0].session_id, "time_out": r[0].time_out})
    return r


CONNECT_ATTEMPTS = []  # every ConnectionHandler._connect: client, port, start/end, outcome
_orig_connect = kconn.ConnectionHandler._connect


def _connect(self, host, hostip, port):
    rec = {"client": LABELS.get(id(self.client)), "port": port,
           "t": time.monotonic(), "outcome": None}
    CONNECT_ATTEMPTS.append(rec)
    try:
        r = _orig_connect(self, host, hostip, port)
        rec["outcome"] = "connected"
        return r
    except Exception as e:
        rec["outcome"] = "%s: %s" % (type(e).__name__, str(e)[:60])
        raise
    finally:
        rec["t_end"] = time.monotonic()


kconn.ConnectionHandler._connect = _connect
kconn.ConnectionHandler._read_response = _read_response
kconn.ConnectionHandler._read_watch_event = _read_watch_event
ser.Connect.deserialize = classmethod(_connect_deser)


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
        except Exception:
            v = None
        if v:
            return v
        time.sleep(interval)
    return None


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def four(port, cmd, timeout=3.0):
    """Send a four-letter-word command, return the reply text."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(cmd.encode())
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                break
            chunks.append(d)
    return b"".join(chunks).decode(errors="replace")


def srvr_info(port):
    try:
        txt = four(port, "srvr")
    except OSError:
        return None
    info = {}
    for line in txt.splitlines():
        if ":" in line:
            k, v = line.split(":", 1)
            info[k.strip()] = v.strip()
    return info or None


class ZkServer:
    def __init__(self, name, client_port, sid=None, peers=None, data_dir=None):
        self.name = name
        self.client_port = client_port
        self.sid = sid
        self.peers = peers  # {sid: (quorum_port, election_port)}
        self.dir = os.path.join(WORK, name)
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.proc = None
        self.logf = None

    def config_lines(self):
        lines = [
            "tickTime=%d" % TICK_MS,
            "initLimit=50",
            "syncLimit=25",
            "dataDir=%s" % self.data_dir,
            "clientPort=%d" % self.client_port,
            "clientPortAddress=127.0.0.1",
            "admin.enableServer=false",
            "4lw.commands.whitelist=*",
        ]
        if self.peers:
            for sid, (qp, ep) in sorted(self.peers.items()):
                lines.append("server.%d=127.0.0.1:%d:%d" % (sid, qp, ep))
        return lines

    def prepare(self, wipe=True):
        if wipe and os.path.isdir(self.dir):
            shutil.rmtree(self.dir)
        os.makedirs(self.data_dir, exist_ok=True)
        with open(self.cfg, "w") as f:
            f.write("\n".join(self.config_lines()) + "\n")
        if self.sid is not None:
            with open(os.path.join(self.data_dir, "myid"), "w") as f:
                f.write("%d\n" % self.sid)

    def start(self):
        self.logf = open(os.path.join(self.dir, "server.log"), "ab")
        cmd = [JAVA, "-Xmx256m", "-cp", CLASSPATH,
               "-Dzookeeper.admin.enableServer=false",
               "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
               "-Dorg.slf4j.simpleLogger.showDateTime=true",
               "org.apache.zookeeper.server.quorum.QuorumPeerMain", self.cfg]
        self.proc = subprocess.Popen(cmd, cwd=self.dir, stdout=self.logf,
                                     stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if self not in SERVERS:
            SERVERS.append(self)
        log.info("started %s pid=%s port=%s", self.name, self.proc.pid,
                 self.client_port)

    def wait_serving(self, timeout=60):
        def ok():
            try:
                return four(self.client_port, "ruok", 1.0) == "imok" and \
                    "Mode" in (srvr_info(self.client_port) or {})
            except OSError:
                return False
        return wait_until(ok, timeout, 0.2)

    def mode(self):
        info = srvr_info(self.client_port) or {}
        return info.get("Mode")

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.send_signal(sig)
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.logf:
            self.logf.close()
            self.logf = None
        log.info("stopped %s", self.name)


def stop_all():
    for s in SERVERS:
        with contextlib.suppress(Exception):
            s.stop(signal.SIGKILL, 5)


def watchdog():
    log.error("WATCHDOG: %ss elapsed, killing servers and exiting", WATCHDOG_S)
    stop_all()
    os._exit(3)


def mk_client(label, hosts, timeout=10.0, **kw):
    c = KazooClient(hosts=hosts, timeout=timeout, **kw)
    LABELS[id(c)] = label
    c.start(timeout=20)
    SESSIONS[c._session_id] = label
    return c


def close_client(c):
    try:
        c.stop()
    finally:
        c.close()


def exc_info(e):
    server = isinstance(e, kex.ZookeeperError)
    d = {"exception": type(e).__name__,
         "raised_by": "server" if server else "kazoo-client"}
    if server:
        d["code"] = getattr(e, "code", None)
    else:
        d["message"] = str(e)
    return d


def jv(v):
    """JSON-friendly view of an argument."""
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, (list, tuple)):
        return [jv(x) for x in v]
    return v


def last_reply(label, n0):
    reps = [w for w in WIRE[n0:] if w["client"] == label and w["kind"] == "reply"]
    return reps


def events_since(label, n0):
    return [{k: w[k] for k in ("type", "type_name", "state", "state_name", "path")}
            for w in WIRE[n0:] if w["client"] == label and w["kind"] == "event"]


def raw_call(c, req, timeout=15):
    """Send a request object exactly as built (bypasses kazoo's client-side
    path normalisation/validation)."""
    ar = c.handler.async_result()
    c._call(req, ar)
    return ar.get(timeout=timeout)


def zxid_probe(c):
    """Round trip (exists '/'); returns the reply-header zxid = server's last
    processed zxid."""
    label = LABELS[id(c)]
    n0 = len(WIRE)
    c.exists("/")
    reps = last_reply(label, n0)
    return reps[-1]["zxid"]


def empty_path(req):
    """Same request but with the (first) path field encoded as a zero-length
    jute string instead of kazoo's NULL (-1) encoding of ''."""
    cls = type(req)

    class E(cls):
        def serialize(self):
            b = bytes(cls.serialize(self))
            assert b[:4] == b"\xff\xff\xff\xff"
            return bytearray(b"\x00\x00\x00\x00" + b[4:])
    E.__name__ = cls.__name__
    return E(*req)


# raw session (no kazoo) -----------------------------------------------------
def _recvn(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            raise ConnectionError("closed")
        buf += d
    return buf


def raw_session(port, timeout_ms):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    req = ser.Connect(0, 0, timeout_ms, 0, b"\x00" * 16, False).serialize()
    s.sendall(struct.pack(">i", len(req)) + bytes(req))
    n = struct.unpack(">i", _recvn(s, 4))[0]
    resp, _ = ser.Connect.deserialize(_recvn(s, n), 0)
    return s, resp


def raw_request(s, xid, req):
    b = struct.pack(">ii", xid, req.type) + bytes(req.serialize())
    s.sendall(struct.pack(">i", len(b)) + b)
    n = struct.unpack(">i", _recvn(s, 4))[0]
    body = _recvn(s, n)
    rxid, zxid, err = struct.unpack_from(">iqi", body, 0)
    return rxid, zxid, err, body[16:]


# --------------------------------------------------------------------------
# scenario bookkeeping
# --------------------------------------------------------------------------
COMMON = {}
WRITE_OPS = {"create", "set", "delete", "ensure_path"}


class Scn:
    def __init__(self, name, description):
        self.name = name
        self.base = None
        self.d = {"scenario": name, "description": description}
        self.d.update(COMMON)
        self.steps = []
        self.facts = {}

    # normalisation ---------------------------------------------------------
    def zrel(self, z):
        if z is None:
            return None
        if z == 0:
            return None
        if self.base is None:
            return "NO_BASE:%d" % z
        return z - self.base

    def owner(self, o):
        if o == 0:
            return 0
        return "session:" + SESSIONS.get(o, "unknown")

    def stat(self, st):
        zs = [st.czxid, st.mzxid, st.pzxid]
        return {
            "czxid_rel": self.zrel(st.czxid),
            "mzxid_rel": self.zrel(st.mzxid),
            "pzxid_rel": self.zrel(st.pzxid),
            "zxid_epochs_same_as_base": (self.base is not None and all(
                (z >> 32) == (self.base >> 32) for z in zs if z)),
            "ctime_eq_mtime": st.ctime == st.mtime,
            "mtime_gt_ctime": st.mtime > st.ctime,
            "version": st.version,
            "cversion": st.cversion,
            "aversion": st.aversion,
            "ephemeralOwner": self.owner(st.ephemeralOwner),
            "dataLength": st.dataLength,
            "numChildren": st.numChildren,
        }

    def conv(self, r):
        if isinstance(r, ZnodeStat):
            return self.stat(r)
        if isinstance(r, BaseException):
            return exc_info(r)
        if isinstance(r, tuple) and len(r) == 2 and isinstance(r[1], ZnodeStat):
            if isinstance(r[0], bytes):
                return {"data": r[0].decode("utf-8", "replace"),
                        "stat": self.stat(r[1])}
            if isinstance(r[0], str):
                return {"path": r[0], "stat": self.stat(r[1])}
            if isinstance(r[0], list):
                return {"children": list(r[0]), "stat": self.stat(r[1])}
        if isinstance(r, bytes):
            return r.decode("utf-8", "replace")
        if isinstance(r, (list, tuple)):
            return [self.conv(x) for x in r]
        return r

    # operations --------------------------------------------------------------
    def op(self, c, name, *args, note=None, record=True, **kw):
        """Run client.<name>(*args, **kw) and record result/exception plus
        the reply-header zxid/err of the (last) wire request."""
        label = LABELS.get(id(c))
        n0 = len(WIRE)
        rec = {"client": label, "op": name, "args": [jv(a) for a in args]}
        if kw:
            rec["kwargs"] = {k: (v.__name__ if callable(v) else jv(v))
                             for k, v in kw.items()}
        if note:
            rec["note"] = note
        ok = True
        try:
            res = getattr(c, name)(*args, **kw)
        except Exception as e:  # noqa
            res, ok = e, False
        reps = last_reply(label, n0)
        if reps:
            lr = reps[-1]
            if self.base is None and name in WRITE_OPS and ok and lr["zxid"] > 0:
                self.base = lr["zxid"]
                self.d["zxid_base_epoch"] = lr["zxid"] >> 32
            rec["reply_zxid_rel"] = self.zrel(lr["zxid"])
            rec["reply_err"] = lr["err"]
            if len(reps) > 1:
                rec["wire_requests"] = [[r["req"], r["path"], r["err"]] for r in reps]
        else:
            rec["wire_requests"] = []
        if ok:
            rec["result"] = self.conv(res)
        else:
            rec["error"] = exc_info(res)
        if record:
            self.steps.append(rec)
        return res if ok else None, rec

    def note(self, text, **kw):
        d = {"note": text}
        d.update(kw)
        self.steps.append(d)

    def save(self):
        self.d["steps"] = self.steps
        self.d["facts"] = self.facts
        path = os.path.join(OUT_DIR, self.name + ".json")
        with open(path, "w") as f:
            json.dump(self.d, f, indent=1, sort_keys=False)
            f.write("\n")
        log.info("wrote %s (%d steps)", path, len(self.steps))


# --------------------------------------------------------------------------
# scenarios
# --------------------------------------------------------------------------
def scenario_j(port, hosts):
    """Fresh server: root listing, '/' and '/zookeeper' stats, sync."""
    s = Scn("j_root_and_sync",
            "Fresh standalone server: children of '/', Stat of '/', "
            "'/zookeeper', its children; sync() return values; zxids used "
            "by session create/close. ZXIDS HERE ARE ABSOLUTE (fresh data "
            "dir, deterministic); ctime/mtime kept raw only when 0.")
    srvr0 = srvr_info(port)
    s.d["srvr_before_any_session"] = {k: srvr0.get(k) for k in ("Mode", "Zxid", "Node count")}
    conf = four(port, "conf")
    s.d["conf_4lw"] = {k: v for k, v in (l.split("=", 1) for l in conf.splitlines() if "=" in l)
                       if k in ("tickTime", "minSessionTimeout", "maxSessionTimeout",
                                "maxClientCnxns", "serverId")}

    def abs_stat(st):
        return {"czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
                "ctime": st.ctime if st.ctime == 0 else "nonzero",
                "mtime": st.mtime if st.mtime == 0 else "nonzero",
                "version": st.version, "cversion": st.cversion,
                "aversion": st.aversion, "ephemeralOwner": st.ephemeralOwner,
                "dataLength": st.dataLength, "numChildren": st.numChildren}

    c = mk_client("A", hosts)
    s.d["srvr_after_first_session"] = {k: (srvr_info(port) or {}).get(k) for k in ("Zxid", "Node count")}
    n0 = len(WIRE)
    kids = c.get_children("/")
    r = last_reply("A", n0)[-1]
    s.steps.append({"op": "get_children", "args": ["/"], "result_wire_order": kids,
                    "result_sorted": sorted(kids), "reply_zxid_abs": r["zxid"],
                    "note": "first request of the first session on a fresh server"})
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        try:
            data, st = c.get(p)
            kids = c.get_children(p)
            s.steps.append({"op": "get+get_children", "path": p,
                            "data": data.decode("utf-8", "replace"),
                            "children_sorted": sorted(kids),
                            "stat_absolute": abs_stat(st)})
        except Exception as e:
            s.steps.append({"op": "get+get_children", "path": p, "error": exc_info(e)})
    # get_children with include_data (GetChildren2)
    kids, st = c.get_children("/", include_data=True)
    s.steps.append({"op": "get_children", "args": ["/"], "kwargs": {"include_data": True},
                    "children_sorted": sorted(kids), "stat_absolute": abs_stat(st)})
    # sync
    for p in ("/", "/zookeeper", "/does-not-exist", "/a/../b"):
        n0 = len(WIRE)
        try:
            res = c.sync(p)
            reps = last_reply("A", n0)
            s.steps.append({"op": "sync", "args": [p], "result": res,
                            "sent_path": reps[-1]["path"] if reps else None,
                            "reply_err": reps[-1]["err"] if reps else None,
                            "reply_zxid_abs": reps[-1]["zxid"] if reps else None})
        except Exception as e:
            s.steps.append({"op": "sync", "args": [p], "error": exc_info(e)})
    # raw sync of a missing path / relative path (bypassing kazoo)
    for p in ("/does-not-exist", "rel", ""):
        try:
            res = raw_call(c, ser.Sync(p))
            s.steps.append({"op": "raw Sync", "path": p, "result": res})
        except Exception as e:
            s.steps.append({"op": "raw Sync", "path": p, "error": exc_info(e)})

    # zxids consumed by session create / close
    z0 = zxid_probe(c)
    b = mk_client("B", hosts)
    z1 = zxid_probe(c)
    n0 = len(WIRE)
    close_client(b)
    close_reps = [w for w in WIRE[n0:] if w["client"] == "B" and w["req"] == "Close"]
    z2 = zxid_probe(c)
    s.steps.append({"op": "session create/close accounting",
                    "zxid_before_B_connect": z0, "zxid_after_B_connect": z1,
                    "B_close_reply_zxid": close_reps[-1]["zxid"] if close_reps else None,
                    "zxid_after_B_close": z2})
    s.facts = {
        "root_children_sorted": sorted(c.get_children("/")),
        "session_create_consumes_one_zxid": z1 - z0 == 1,
        "session_close_consumes_one_zxid": z2 - z1 == 1,
        "close_reply_zxid_is_closeSession_txn_zxid": bool(close_reps) and close_reps[-1]["zxid"] == z2,
        "sync_returns_path": c.sync("/zookeeper") == "/zookeeper",
    }
    close_client(c)
    s.save()


def scenario_a(hosts):
    s = Scn("a_create_persistent",
            "create persistent /t1/a with data b'x'; Stat of /t1/a and "
            "of its parent /t1 before and after; Create2 (include_data) "
            "variant /t1/a2.")
    c = mk_client("A", hosts)
    s.op(c, "create", "/t1")                      # base: rel 0
    _, before = s.op(c, "exists", "/t1", note="parent before")
    _, cr = s.op(c, "create", "/t1/a", b"x")
    _, st_a = s.op(c, "exists", "/t1/a", note="node after create")
    _, get_a = s.op(c, "get", "/t1/a")
    _, after = s.op(c, "exists", "/t1", note="parent after")
    _, c2 = s.op(c, "create", "/t1/a2", b"yy", include_data=True,
                 note="Create2: returns (path, Stat)")
    _, st_a2 = s.op(c, "exists", "/t1/a2")
    _, after2 = s.op(c, "exists", "/t1", note="parent after second child")
    _, empty = s.op(c, "create", "/t1/empty", note="default value b''")
    _, st_e = s.op(c, "get", "/t1/empty")
    na = st_a["result"]
    s.facts = {
        "create_returns_path": cr["result"] == "/t1/a",
        "new_node_czxid_eq_mzxid_eq_pzxid": na["czxid_rel"] == na["mzxid_rel"] == na["pzxid_rel"],
        "new_node_czxid_eq_create_reply_zxid": na["czxid_rel"] == cr["reply_zxid_rel"],
        "new_node": {k: na[k] for k in ("version", "cversion", "aversion",
                                        "ephemeralOwner", "dataLength",
                                        "numChildren", "ctime_eq_mtime")},
        "parent_before": before["result"],
        "parent_after": after["result"],
        "parent_mzxid_unchanged_by_child_create": before["result"]["mzxid_rel"] == after["result"]["mzxid_rel"],
        "parent_pzxid_becomes_child_czxid": after["result"]["pzxid_rel"] == na["czxid_rel"],
        "create2_stat_equals_exists_stat": c2["result"]["stat"] == st_a2["result"],
        "zxid_step_per_write": 1,
    }
    close_client(c)
    s.save()


def scenario_b(hosts):
    s = Scn("b_set_data_versions",
            "set_data twice on /t2/a (second with version=1), then with wrong "
            "versions; Stat after each.")
    c = mk_client("A", hosts)
    s.op(c, "create", "/t2")
    s.op(c, "create", "/t2/a", b"x")
    time.sleep(0.02)   # so mtime > ctime is observable (ms resolution)
    _, s1 = s.op(c, "set", "/t2/a", b"y1")
    time.sleep(0.02)
    _, s2 = s.op(c, "set", "/t2/a", b"y22", version=1)
    _, bad1 = s.op(c, "set", "/t2/a", b"zz", version=1, note="stale version")
    _, bad5 = s.op(c, "set", "/t2/a", b"zz", version=5, note="future version")
    _, badm = s.op(c, "set", "/t2/a", b"zz", version=-2, note="version -2")
    _, st = s.op(c, "get", "/t2/a", note="unchanged after bad versions")
    _, same = s.op(c, "set", "/t2/a", b"y22", note="same data again, version=-1")
    _, empty = s.op(c, "set", "/t2/a", b"", note="empty data")
    _, parent = s.op(c, "exists", "/t2", note="parent after sets")
    s.facts = {
        "after_first_set": s1["result"],
        "after_second_set": s2["result"],
        "bad_version_exception": bad1["error"],
        "bad_version_reply_err": bad1["reply_err"],
        "version_minus2_result": badm.get("error", badm.get("result")),
        "same_data_set_bumps_version": same["result"]["version"] == 3,
        "set_reply_zxid_eq_new_mzxid": s1["reply_zxid_rel"] == s1["result"]["mzxid_rel"],
        "failed_set_reply_zxid_rel": [bad1["reply_zxid_rel"], bad5["reply_zxid_rel"]],
        "parent_unchanged_by_child_set": parent["result"]["mzxid_rel"] == 0 and parent["result"]["cversion"] == 1,
    }
    close_client(c)
    s.save()


def scenario_c(hosts):
    s = Scn("c_child_create_delete",
            "create /t3/a, child /t3/a/b, delete it; Stat of /t3/a after each step.")
    c = mk_client("A", hosts)
    s.op(c, "create", "/t3")
    s.op(c, "create", "/t3/a", b"p")
    _, p0 = s.op(c, "exists", "/t3/a", note="parent before")
    _, cb = s.op(c, "create", "/t3/a/b", b"c")
    _, p1 = s.op(c, "exists", "/t3/a", note="parent after child create")
    _, sb = s.op(c, "set", "/t3/a/b", b"c2", note="child data change")
    _, p1b = s.op(c, "exists", "/t3/a", note="parent after child set")
    _, db = s.op(c, "delete", "/t3/a/b")
    _, p2 = s.op(c, "exists", "/t3/a", note="parent after child delete")
    _, cb2 = s.op(c, "create", "/t3/a/b", b"again")
    _, p3 = s.op(c, "exists", "/t3/a", note="parent after re-create")
    _, gs = s.op(c, "exists", "/t3", note="grandparent /t3 at end")
    s.facts = {
        "parent_stats": {"before": p0["result"], "after_create": p1["result"],
                         "after_child_set": p1b["result"],
                         "after_delete": p2["result"], "after_recreate": p3["result"]},
        "delete_result": db.get("result"),
        "pzxid_after_delete_eq_delete_reply_zxid": p2["result"]["pzxid_rel"] == db["reply_zxid_rel"],
        "cversion_counts_creates_and_deletes": [p0["result"]["cversion"], p1["result"]["cversion"],
                                                p2["result"]["cversion"], p3["result"]["cversion"]],
        "child_set_does_not_touch_parent": p1["result"] == p1b["result"],
    }
    close_client(c)
    s.save()


def scenario_d(hosts):
    s = Scn("d_sequential",
            "sequential node names vs parent cversion; non-sequential child, "
            "delete, failed create, ephemeral+sequential, empty prefix, root.")
    c = mk_client("A", hosts)
    s.op(c, "create", "/t4")
    s.op(c, "create", "/t4/s")
    seq = []

    def cv(p="/t4/s"):
        st = c.exists(p)
        return {"parent": p, "parent_cversion_before": st.cversion,
                "parent_numChildren_before": st.numChildren,
                "internal_counter_(cversion+numChildren)/2": (st.cversion + st.numChildren) // 2}

    def seq_create(path, parent="/t4/s", note=None, **kw):
        before = cv(parent)
        _, r = s.op(c, "create", path, sequence=True, note=note, **kw)
        d = {"requested": path, "kwargs": dict(sequence=True, **kw), "returned": r.get("result")}
        d.update(before)
        seq.append(d)
        return r

    seq_create("/t4/s/n-")
    seq_create("/t4/s/n-")
    s.op(c, "create", "/t4/s/x")
    seq_create("/t4/s/n-")
    s.op(c, "delete", "/t4/s/n-0000000000")
    seq_create("/t4/s/n-")
    _, fe = s.op(c, "create", "/t4/s/x", note="fails NodeExists")
    seq_create("/t4/s/n-")
    s.op(c, "set", "/t4/s", b"data", note="parent data change")
    seq_create("/t4/s/n-")
    seq_create("/t4/s/e-", ephemeral=True)
    seq_create("/t4/s/", note="empty prefix (trailing slash)")
    # sequence name with a prefix that contains digits
    seq_create("/t4/s/n-")
    # other parent has its own counter
    s.op(c, "create", "/t4/o")
    seq_create("/t4/o/n-", parent="/t4/o")
    # many deletes: counter ignores deletes
    for i in range(3):
        s.op(c, "create", "/t4/o/tmp%d" % i)
    for i in range(3):
        s.op(c, "delete", "/t4/o/tmp%d" % i)
    seq_create("/t4/o/n-", parent="/t4/o", note="after 3 creates + 3 deletes")
    # directly under "/" (root counter depends on what earlier scenarios did
    # on this server: compare with the recorded root counter only)
    r_root = seq_create("/", parent="/", note="sequential with path '/' (empty name under root)")
    r_root2 = seq_create("/t4seq-", parent="/", note="root-level sequential with prefix")
    for r in (r_root, r_root2):
        if r.get("result"):
            s.op(c, "delete", r["result"], note="cleanup root-level node")
    # raw sequential create of "/" with a path that is invalid without suffix
    _, kids = s.op(c, "get_children", "/t4/s")
    _, ps = s.op(c, "exists", "/t4/s")
    _, eph = s.op(c, "exists", [x for x in seq if x["requested"] == "/t4/s/e-"][0]["returned"])

    def num(name):
        m = re.search(r"(\d{10})$", name or "")
        return int(m.group(1)) if m else None
    ic = "internal_counter_(cversion+numChildren)/2"
    s.facts = {
        "sequential_creates": seq,
        "suffix_equals_client_visible_parent_cversion_before": [
            num(x["returned"]) == x["parent_cversion_before"] for x in seq if x["returned"]],
        "suffix_equals_(cversion+numChildren)/2_before": all(
            num(x["returned"]) == x[ic] for x in seq if x["returned"]),
        "explanation": ("ZooKeeper 3.8 stores an internal per-parent counter that is incremented "
                        "only by successful child creations (StatPersisted.cversion). The sequential "
                        "suffix is that counter formatted %010d. The cversion a client sees is "
                        "DataNode.copyStat: 2*internal - numChildren (= creates + deletes). Hence the "
                        "suffix equals the visible cversion only while no child was ever deleted."),
        "children_sorted_at_end": sorted(kids["result"]),
        "parent_stat_at_end": ps["result"],
        "ephemeral_sequential_stat": eph["result"],
        "failed_create_error": fe.get("error"),
    }
    close_client(c)
    s.save()


def scenario_e(hosts):
    s = Scn("e_errors",
            "Error cases: exception class via kazoo API ('kazoo' block: what "
            "kazoo sent and what came back / raised client-side) and via a "
            "raw request with the path sent byte-exact ('raw' block = pure "
            "server behaviour). 'zxid_consumed' = change of the server's last "
            "zxid across the operation (probe before/after).")
    c = mk_client("A", hosts)
    a2 = mk_client("B", hosts)
    s.op(c, "create", "/t5")
    s.op(c, "create", "/t5/exists", b"e")
    s.op(a2, "create", "/t5/eph", b"", ephemeral=True)
    s.op(c, "create", "/t5/full")
    s.op(c, "create", "/t5/full/c")

    cases = []

    def case(name, opname, *args, **kw):
        z0 = zxid_probe(c)
        _, r = s.op(c, opname, *args, record=False, **kw)
        z1 = zxid_probe(c)
        r["case"] = name
        r["zxid_consumed"] = z1 - z0
        cases.append(r)
        return r

    case("create existing", "create", "/t5/exists")
    case("create missing parent", "create", "/t5/missing/child")
    case("create missing parent, makepath=False sequential", "create", "/t5/missing/child", sequence=True)
    case("create child of ephemeral", "create", "/t5/eph/child")
    case("create sequential child of ephemeral", "create", "/t5/eph/child", sequence=True)
    case("create existing ephemeral node", "create", "/t5/eph")
    case("delete node with children", "delete", "/t5/full")
    case("delete missing", "delete", "/t5/missing")
    case("delete wrong version", "delete", "/t5/exists", version=5)
    case("delete node with children AND wrong version", "delete", "/t5/full", version=5)
    case("delete missing with version", "delete", "/t5/missing", version=5)
    case("get missing", "get", "/t5/missing")
    case("set missing", "set", "/t5/missing", b"v")
    case("set missing with version", "set", "/t5/missing", b"v", version=3)
    case("get_children missing", "get_children", "/t5/missing")
    case("exists missing", "exists", "/t5/missing")
    case("delete recursive missing (kazoo helper)", "delete", "/t5/missing", recursive=True)
    s.d["cases"] = cases

    # invalid / special paths: kazoo API and raw server
    def build(opname, p):
        if opname == "create":
            return ser.Create(p, b"", OPEN_ACL_UNSAFE, 0)
        if opname == "exists":
            return ser.Exists(p, None)
        if opname == "get":
            return ser.GetData(p, None)
        if opname == "get_children":
            return ser.GetChildren(p, None)
        if opname == "set":
            return ser.SetData(p, b"v", -1)
        if opname == "delete":
            return ser.Delete(p, -1)

    paths = ["t5rel", "/t5/q1/", "/t5//q2", "//t5q3", "/t5/./q4", "/t5/../q5",
             "/t5/q6\u0000x", "/zookeeper/x", "", "/", "/zookeeper",
             "/zookeeper/quota", "/zookeeper/config"]
    special = {"", "/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"}
    ops = ["create", "exists", "get", "get_children", "set", "delete"]
    matrix = []
    for p in paths:
        row = {"path": p, "path_repr": repr(p)}
        try:
            row["kazoo_sent_path"] = _prefix_root("", p)
        except Exception as e:
            row["kazoo_sent_path"] = exc_info(e)
        kres, rres = {}, {}
        for o in ops:
            if p in special and o in ("set",):
                continue
            z0 = zxid_probe(c)
            _, r = s.op(c, o, p, *([b"v"] if o == "set" else []), record=False)
            z1 = zxid_probe(c)
            r.pop("client", None)
            r.pop("args", None)
            r["zxid_consumed"] = z1 - z0
            kres[o] = r
        for o in ops:
            if p in special and o in ("set",):
                continue
            if p in ("/zookeeper/quota", "/zookeeper/config") and o == "delete":
                continue
            z0 = zxid_probe(c)
            n0 = len(WIRE)
            try:
                res = raw_call(c, build(o, p))
                rr = {"result": s.conv(res)}
            except Exception as e:
                rr = {"error": exc_info(e)}
            reps = last_reply("A", n0)
            if reps:
                rr["reply_err"] = reps[-1]["err"]
            z1 = zxid_probe(c)
            rr["zxid_consumed"] = z1 - z0
            rres[o] = rr
        row["kazoo"] = kres
        row["raw"] = rres
        matrix.append(row)
    s.d["invalid_path_matrix"] = matrix
    s.d["invalid_path_matrix_note"] = (
        "kazoo serialises the empty string as a jute NULL string (length -1), so "
        "the raw row for path '' is a NULL path (server: MarshallingError). The row "
        "'<jute empty string>' sends a real zero-length string.")

    # true zero-length path
    row = {"path": "<jute empty string>", "path_repr": "<jute empty string>", "raw": {}}
    for o in ("create", "exists", "get", "get_children", "set", "delete"):
        z0 = zxid_probe(c)
        try:
            res = raw_call(c, empty_path(build(o, "")))
            rr = {"result": s.conv(res)}
        except Exception as e:
            rr = {"error": exc_info(e)}
        rr["zxid_consumed"] = zxid_probe(c) - z0
        row["raw"][o] = rr
    matrix.append(row)

    # error precedence with raw create (flags 0 unless noted)
    prec = []
    for p, flags, acl, why in [
        ("/t5/.", 0, OPEN_ACL_UNSAFE, "parent exists, name '.'"),
        ("/t5/..", 0, OPEN_ACL_UNSAFE, "parent exists, name '..'"),
        ("/t5/exists/", 0, OPEN_ACL_UNSAFE, "parent exists, empty name (trailing slash)"),
        ("/t5/eph/", 0, OPEN_ACL_UNSAFE, "parent is ephemeral, empty name"),
        ("/t5/exists/", 2, OPEN_ACL_UNSAFE, "trailing slash + sequential (valid: empty prefix)"),
        ("/t5/eph/x", 2, OPEN_ACL_UNSAFE, "sequential under ephemeral"),
        ("/t5/exists", 0, [], "existing node + empty ACL"),
        ("/t5/eph/x", 0, [], "ephemeral parent + empty ACL"),
        ("/t5/missing/x/", 0, OPEN_ACL_UNSAFE, "missing parent + trailing slash"),
        ("/t5/missing/.", 0, OPEN_ACL_UNSAFE, "missing parent + '.' name"),
        ("/t5/x\u0000", 0, OPEN_ACL_UNSAFE, "NUL in name, parent exists"),
        ("/t5/missing/x\u0000", 0, OPEN_ACL_UNSAFE, "NUL in name, parent missing"),
    ]:
        z0 = zxid_probe(c)
        try:
            res = raw_call(c, ser.Create(p, b"", acl, flags))
            rr = {"result": res}
        except Exception as e:
            rr = {"error": exc_info(e)}
        rr.update({"path": p, "flags": flags, "acl": "[]" if not acl else "OPEN_ACL_UNSAFE",
                   "why": why, "zxid_consumed": zxid_probe(c) - z0})
        prec.append(rr)
        if rr.get("result"):
            with contextlib.suppress(Exception):
                c.delete(rr["result"])
    # delete / set precedence
    for opn, req, why in [
        ("delete", ser.Delete("/t5/full", 0), "has children, version matches (0)"),
        ("delete", ser.Delete("/t5/./full", 0), "'.' in path, node missing"),
        ("set", ser.SetData("/t5/missing/", b"v", -1), "trailing slash + missing"),
        ("set", ser.SetData("/t5/exists/", b"v", 99), "trailing slash, bad version"),
        ("exists", ser.Exists("/t5/exists/", None), "trailing slash on existing node"),
        ("get", ser.GetData("/t5/exists/", None), "trailing slash on existing node"),
    ]:
        z0 = zxid_probe(c)
        try:
            res = raw_call(c, req)
            rr = {"result": s.conv(res)}
        except Exception as e:
            rr = {"error": exc_info(e)}
        rr.update({"op": opn, "path": req.path, "why": why, "zxid_consumed": zxid_probe(c) - z0})
        prec.append(rr)
    s.d["precedence_raw"] = prec

    # raw create with empty ACL list, and precedence with missing parent
    extra = []
    for p in ("/t5/acl", "/t5/missing/acl"):
        try:
            res = raw_call(c, ser.Create(p, b"", [], 0))
            extra.append({"op": "raw Create acl=[]", "path": p, "result": res})
        except Exception as e:
            extra.append({"op": "raw Create acl=[]", "path": p, "error": exc_info(e)})
    # raw create of ephemeral child under missing parent vs invalid flags
    for flags in (4, 5, 6, 7, 99, -1):
        try:
            res = raw_call(c, ser.Create("/t5/flags%d" % (flags if flags >= 0 else 100 - flags), b"", OPEN_ACL_UNSAFE, flags))
            extra.append({"op": "raw Create flags=%d" % flags, "result": res})
        except Exception as e:
            extra.append({"op": "raw Create flags=%d" % flags, "error": exc_info(e)})
    s.d["extra_raw"] = extra
    # cleanup of nodes that were created by normalised kazoo paths
    for p in ("/t5rel", "/t5q3", "/zookeeper/x", "/t5/q1", "/t5/q2", "/t5/flags4"):
        with contextlib.suppress(Exception):
            c.delete(p)
    close_client(a2)
    close_client(c)

    s.facts = {
        "cases": {r["case"]: (r.get("error") or {"result": r.get("result")}) for r in cases},
        "failed_writes_consume_zxid": {r["case"]: r["zxid_consumed"] for r in cases},
        "raw_server_errors": {row["path_repr"]: {o: (v.get("error", {}).get("exception") if "error" in v else "OK")
                                                 for o, v in row["raw"].items()} for row in matrix},
        "kazoo_errors": {row["path_repr"]: {o: (v.get("error", {}).get("exception") if "error" in v else "OK")
                                            for o, v in row["kazoo"].items()} for row in matrix if "kazoo" in row},
        "precedence": [(x.get("op", "create"), x["path"], x["why"],
                        x.get("error", {}).get("exception") if "error" in x else ("OK", x.get("result")))
                       for x in prec],
    }
    s.save()


def scenario_f(hosts, port):
    s = Scn("f_ephemeral",
            "ephemeral nodes of client A under /t6 (e1, e2, seq), observer O "
            "with exists-watch on /t6/e1 and child-watch on /t6; A closes; "
            "then a raw session whose TCP connection is dropped without "
            "closeSession (node lives until session expiry).")
    o = mk_client("O", hosts)
    a = mk_client("A", hosts)
    s.op(o, "create", "/t6")
    _, e1 = s.op(a, "create", "/t6/e1", b"eph", ephemeral=True)
    s.op(a, "create", "/t6/e2", ephemeral=True)
    _, es = s.op(a, "create", "/t6/es-", ephemeral=True, sequence=True)
    _, st1 = s.op(o, "exists", "/t6/e1", note="seen by observer")
    _, st1a = s.op(a, "exists", "/t6/e1", note="seen by owner")
    _, pb = s.op(o, "exists", "/t6", note="parent before close")
    evs = []

    def w_exists(ev):
        evs.append({"watcher": "exists(/t6/e1)", "type": ev.type, "state": ev.state, "path": ev.path})

    def w_child(ev):
        evs.append({"watcher": "get_children(/t6)", "type": ev.type, "state": ev.state, "path": ev.path})
    s.op(o, "exists", "/t6/e1", watch=w_exists)
    s.op(o, "get_children", "/t6", watch=w_child)
    sess_a = a._session_id
    owner_raw_eq = o.exists("/t6/e1").ephemeralOwner == sess_a
    n0 = len(WIRE)
    z0 = zxid_probe(o)
    close_client(a)
    close_reps = [w for w in WIRE[n0:] if w["client"] == "A" and w["req"] == "Close"]
    zxid_probe(o)
    wait_until(lambda: len(evs) >= 2, 5)
    time.sleep(0.3)
    o_events = events_since("O", n0)
    _, ex = s.op(o, "exists", "/t6/e1", note="after owner close")
    _, pa = s.op(o, "exists", "/t6", note="parent after close")
    _, kids = s.op(o, "get_children", "/t6")
    close_z = close_reps[-1]["zxid"] if close_reps else None

    # single ephemeral: deterministic notification order on close
    a2 = mk_client("A2", hosts)
    s.op(o, "create", "/t6b")
    s.op(a2, "create", "/t6b/only", b"", ephemeral=True)
    evs2 = []
    s.op(o, "get", "/t6b/only", watch=lambda ev: evs2.append(("get(/t6b/only)", ev.type, ev.path)))
    s.op(o, "get_children", "/t6b", watch=lambda ev: evs2.append(("get_children(/t6b)", ev.type, ev.path)))
    n1 = len(WIRE)
    close_client(a2)
    zxid_probe(o)
    wait_until(lambda: len(evs2) >= 2, 5)
    time.sleep(0.3)
    single_wire = events_since("O", n1)
    _, pa2 = s.op(o, "exists", "/t6b", note="parent after A2 close")

    # session expiry without close
    s_raw, resp = raw_session(port, 400)
    SESSIONS[resp.session_id] = "R"
    rxid, rz, rerr, _ = raw_request(s_raw, 1, ser.Create("/t6/raw", b"", OPEN_ACL_UNSAFE, 1))
    _, raw_st = s.op(o, "exists", "/t6/raw", note="ephemeral of raw session R (negotiated %d ms)" % resp.time_out)
    t0 = time.monotonic()
    s_raw.close()   # TCP close, no closeSession request
    time.sleep(0.05)
    still = o.exists("/t6/raw") is not None
    gone = wait_until(lambda: o.exists("/t6/raw") is None, 10, 0.05)
    elapsed = time.monotonic() - t0
    s.note("raw session R: TCP closed without closeSession",
           still_exists_50ms_after_tcp_close=still,
           disappeared=bool(gone),
           disappeared_after_s_approx=round(elapsed, 2),
           negotiated_timeout_ms=resp.time_out)

    s.facts = {
        "ephemeralOwner_equals_owner_session_id": owner_raw_eq,
        "ephemeral_stat": st1["result"],
        "owner_and_observer_see_same_stat": st1["result"] == st1a["result"],
        "ephemeral_sequential_name": es.get("result"),
        "observer_kazoo_callbacks_in_order": evs,
        "observer_wire_events_in_order": o_events,
        "node_gone_after_close": ex.get("result") is None,
        "parent_before_close": pb["result"],
        "parent_after_close": pa["result"],
        "parent_cversion_delta_on_close": pa["result"]["cversion"] - pb["result"]["cversion"],
        "parent_pzxid_eq_closeSession_zxid": close_z is not None and pa["result"]["pzxid_rel"] == s.zrel(close_z),
        "close_consumed_exactly_one_zxid": close_z is not None and close_z - z0 == 1,
        "children_after_close": kids.get("result"),
        "note_on_order": ("with several ephemerals the deletion order on close follows the "
                          "server's HashSet order of the session's ephemeral paths; the single "
                          "ephemeral case below is deterministic"),
        "single_ephemeral_close_wire_events": single_wire,
        "single_ephemeral_close_kazoo_callbacks": evs2,
        "single_ephemeral_parent_after_close": pa2["result"],
        "expiry_without_close": {"still_exists_right_after_tcp_close": still,
                                 "removed_after_session_timeout": bool(gone),
                                 "approx_seconds": round(elapsed, 2),
                                 "negotiated_ms": resp.time_out},
    }
    close_client(o)
    s.save()


def scenario_g(hosts):
    s = Scn("g_watches",
            "Watches: client W registers, client M mutates (different "
            "sessions). For each action: kazoo callbacks W received and the "
            "raw wire notifications (type/state/path) W's connection got. A "
            "round trip on W after each action guarantees all notifications "
            "were read.")
    w = mk_client("W", hosts)
    m = mk_client("M", hosts)
    cb = []

    def watcher(name):
        def f(ev):
            cb.append({"watcher": name, "type": ev.type, "state": ev.state, "path": ev.path})
        f.__name__ = "watch_" + re.sub(r"\W", "_", name)
        return f

    actions = []

    def act(desc, fn):
        n_cb = len(cb)
        n0 = len(WIRE)
        try:
            r = fn()
            res = s.conv(r)
        except Exception as e:
            res = exc_info(e)
        zxid_probe(w)
        time.sleep(0.25)
        # kazoo fans one notification out to several callbacks in set order
        # (not deterministic): order callbacks by first appearance of their
        # (type, path) and then by watcher name.
        got = cb[n_cb:]
        first = {}
        for i, e in enumerate(got):
            first.setdefault((e["type"], e["path"]), i)
        got = sorted(got, key=lambda e: (first[(e["type"], e["path"])], e["watcher"]))
        actions.append({"action": desc, "result": res,
                        "wire_events_to_W": events_since("W", n0),
                        "kazoo_callbacks_on_W": got})

    m.create("/t7")
    s.base = zxid_probe(m)
    s.d["zxid_base_epoch"] = s.base >> 32
    # g1 data watch
    m.create("/t7/d", b"1")
    act("W.get('/t7/d', watch=data)", lambda: w.get("/t7/d", watch=watcher("data(/t7/d)#1")))
    act("M.set('/t7/d', b'2')", lambda: m.set("/t7/d", b"2"))
    act("M.set('/t7/d', b'3') (watch already fired, not re-registered)", lambda: m.set("/t7/d", b"3"))
    act("W.get('/t7/d', watch=data) re-register", lambda: w.get("/t7/d", watch=watcher("data(/t7/d)#2")))
    act("M.create('/t7/d/child') (data watch on parent does not fire for child create)",
        lambda: m.create("/t7/d/child"))
    act("M.delete('/t7/d/child')", lambda: m.delete("/t7/d/child"))
    act("M.set('/t7/d', b'3') same data as current", lambda: m.set("/t7/d", b"3"))
    act("W.get('/t7/d', watch=data) re-register", lambda: w.get("/t7/d", watch=watcher("data(/t7/d)#3")))
    act("M.delete('/t7/d')", lambda: m.delete("/t7/d"))
    # g2 exists watch on missing node
    act("W.exists('/t7/m', watch) on missing node", lambda: w.exists("/t7/m", watch=watcher("exists(/t7/m)#1")))
    act("M.create('/t7/m', b'a')", lambda: m.create("/t7/m", b"a"))
    act("M.set('/t7/m', b'b') (not re-registered)", lambda: m.set("/t7/m", b"b"))
    act("W.exists('/t7/m', watch) on existing node", lambda: w.exists("/t7/m", watch=watcher("exists(/t7/m)#2")))
    act("M.set('/t7/m', b'c')", lambda: m.set("/t7/m", b"c"))
    act("W.exists('/t7/m', watch)", lambda: w.exists("/t7/m", watch=watcher("exists(/t7/m)#3")))
    act("M.delete('/t7/m')", lambda: m.delete("/t7/m"))
    act("M.create('/t7/m') (not re-registered)", lambda: m.create("/t7/m"))
    # g3 child watch
    m.create("/t7/p", b"p")
    act("W.get_children('/t7/p', watch)", lambda: w.get_children("/t7/p", watch=watcher("children(/t7/p)#1")))
    act("M.create('/t7/p/c1')", lambda: m.create("/t7/p/c1"))
    act("M.create('/t7/p/c2') (not re-registered)", lambda: m.create("/t7/p/c2"))
    act("W.get_children('/t7/p', watch)", lambda: w.get_children("/t7/p", watch=watcher("children(/t7/p)#2")))
    act("M.set('/t7/p', b'p2') (parent data change; child watch must not fire)", lambda: m.set("/t7/p", b"p2"))
    act("M.set('/t7/p/c2', b'x') (child data change; child watch must not fire)", lambda: m.set("/t7/p/c2", b"x"))
    act("M.create('/t7/p/c2/g') (grandchild create; child watch must not fire)", lambda: m.create("/t7/p/c2/g"))
    act("M.delete('/t7/p/c1')", lambda: m.delete("/t7/p/c1"))
    act("W.get_children('/t7/p', watch)", lambda: w.get_children("/t7/p", watch=watcher("children(/t7/p)#3")))
    act("M.delete('/t7/p/c2', recursive=True)", lambda: m.delete("/t7/p/c2", recursive=True))
    act("W.get_children('/t7/p', watch)", lambda: w.get_children("/t7/p", watch=watcher("children(/t7/p)#4")))
    act("M.delete('/t7/p') (node with child watch deleted)", lambda: m.delete("/t7/p"))
    # g4 all three watch kinds on one node + parent child watch, then delete
    m.create("/t7/q", b"q")
    act("W.get('/t7/q', watch=A)", lambda: w.get("/t7/q", watch=watcher("data(/t7/q)")))
    act("W.exists('/t7/q', watch=B)", lambda: w.exists("/t7/q", watch=watcher("exists(/t7/q)")))
    act("W.get_children('/t7/q', watch=C)", lambda: w.get_children("/t7/q", watch=watcher("children(/t7/q)")))
    act("W.get_children('/t7', watch=D)", lambda: w.get_children("/t7", watch=watcher("children(/t7)")))
    act("M.delete('/t7/q')", lambda: m.delete("/t7/q"))
    # g5 get/get_children with watch on a missing node
    act("W.get('/t7/nx', watch) on missing node (NoNode)", lambda: w.get("/t7/nx", watch=watcher("data(/t7/nx)")))
    act("W.get_children('/t7/nx', watch) on missing node", lambda: w.get_children("/t7/nx", watch=watcher("children(/t7/nx)")))
    act("M.create('/t7/nx')", lambda: m.create("/t7/nx"))
    # g6 same-client ordering: event vs reply
    m.create("/t7/s", b"0")
    w.get("/t7/s", watch=watcher("data(/t7/s) own-change"))
    w.get_children("/t7", watch=watcher("children(/t7) own-change"))
    n0 = len(WIRE)
    w.set("/t7/s", b"1")
    w.create("/t7/s2")
    zxid_probe(w)
    time.sleep(0.25)
    seq = [{"kind": x["kind"], "req": x.get("req"), "type_name": x.get("type_name"),
            "path": x.get("path"), "zxid_rel": s.zrel(x.get("zxid")) if x["kind"] == "reply" else None}
           for x in WIRE[n0:] if x["client"] == "W"]
    actions.append({"action": "W itself: get(watch)+get_children('/t7',watch) then W.set('/t7/s') and W.create('/t7/s2'): wire order on W",
                    "wire_sequence_on_W": seq})
    # g7 one watcher function registered twice on the same path
    m.create("/t7/dup", b"0")
    fdup = watcher("dup-same-function")
    act("W.get('/t7/dup', watch=f) and W.exists('/t7/dup', watch=f) (same callable)",
        lambda: (w.get("/t7/dup", watch=fdup), w.exists("/t7/dup", watch=fdup))[1])
    act("M.set('/t7/dup')", lambda: m.set("/t7/dup", b"1"))
    # g8 watch triggered by a multi
    act("W.get('/t7/dup', watch)", lambda: w.get("/t7/dup", watch=watcher("data(/t7/dup) multi")))
    act("W.get_children('/t7', watch)", lambda: w.get_children("/t7", watch=watcher("children(/t7) multi")))

    def multi():
        t = m.transaction()
        t.set_data("/t7/dup", b"2")
        t.create("/t7/mc")
        t.delete("/t7/mc")
        return t.commit()
    act("M multi: set /t7/dup, create /t7/mc, delete /t7/mc", multi)
    # g9 two watchers (different sessions) on same node: both notified
    s.d["actions"] = actions
    close_client(w)
    close_client(m)

    def summ(a):
        return {"action": a["action"],
                "wire": [(e["type_name"], e["state_name"], e["path"]) for e in a.get("wire_events_to_W", [])],
                "callbacks": [(e["watcher"], e["type"], e["state"], e["path"]) for e in a.get("kazoo_callbacks_on_W", [])]}
    s.facts = {"summary": [summ(a) for a in actions if "wire_events_to_W" in a],
               "own_change_wire_order": actions[[i for i, a in enumerate(actions) if "wire_sequence_on_W" in a][0]]["wire_sequence_on_W"]}
    s.save()


def scenario_h(hosts):
    s = Scn("h_multi",
            "multi via kazoo transaction(): success (create,set_data,check,"
            "delete), failure at op 3 of 4, failure at op 1, empty, "
            "sequential create in multi; observer watch fires only for "
            "committed multi.")
    c = mk_client("A", hosts)
    ob = mk_client("O", hosts)
    n_wire_start = len(WIRE)
    s.op(c, "create", "/t8")
    s.op(c, "create", "/t8/x", b"0")
    _, p0 = s.op(c, "exists", "/t8")
    obs_ev = []
    ob.get("/t8/x", watch=lambda ev: obs_ev.append(("x", ev.type, ev.path)))
    ob.get_children("/t8", watch=lambda ev: obs_ev.append(("t8-children", ev.type, ev.path)))

    def run_tx(desc, build):
        t = c.transaction()
        build(t)
        z0 = zxid_probe(c)
        n0 = len(WIRE)
        res = None
        try:
            res = t.commit()
            out = {"result": s.conv(res)}
        except Exception as e:
            out = {"error": exc_info(e)}
        reps = last_reply("A", n0)
        z1 = zxid_probe(c)
        zxid_probe(ob)
        time.sleep(0.2)
        out.update({"tx": desc, "reply_err": reps[-1]["err"] if reps else None,
                    "reply_zxid_rel": s.zrel(reps[-1]["zxid"]) if reps else None,
                    "zxid_consumed": z1 - z0,
                    "observer_events_so_far": list(obs_ev)})
        if isinstance(res, list):
            out["result_types"] = [type(r).__name__ for r in res]
        s.steps.append(out)
        return out

    ok = run_tx("create /t8/new b'n'; set_data /t8/x b'1'; check /t8/x v1; delete /t8/new",
                lambda t: (t.create("/t8/new", b"n"), t.set_data("/t8/x", b"1"),
                           t.check("/t8/x", 1), t.delete("/t8/new")))
    _, x1 = s.op(c, "exists", "/t8/x")
    _, p1 = s.op(c, "exists", "/t8")
    _, n1 = s.op(c, "exists", "/t8/new")
    ob.get("/t8/x", watch=lambda ev: obs_ev.append(("x#2", ev.type, ev.path)))
    ob.get_children("/t8", watch=lambda ev: obs_ev.append(("t8-children#2", ev.type, ev.path)))
    n_ev = len(obs_ev)
    n_wire_ob = len(WIRE)
    bad = run_tx("create /t8/f1; set_data /t8/x b'2'; check /t8/x v99 (wrong); delete /t8/x",
                 lambda t: (t.create("/t8/f1"), t.set_data("/t8/x", b"2"),
                            t.check("/t8/x", 99), t.delete("/t8/x")))
    _, x2 = s.op(c, "exists", "/t8/x")
    _, p2 = s.op(c, "exists", "/t8")
    _, f1 = s.op(c, "exists", "/t8/f1")
    bad1 = run_tx("create /t8/x (exists!); create /t8/f2; set_data /t8/x",
                  lambda t: (t.create("/t8/x"), t.create("/t8/f2"), t.set_data("/t8/x", b"3")))
    bad_last = run_tx("create /t8/f3; delete /t8/missing",
                      lambda t: (t.create("/t8/f3"), t.delete("/t8/missing")))
    bad_two = run_tx("check /t8/x v99 (wrong); delete /t8/missing (also would fail)",
                     lambda t: (t.check("/t8/x", 99), t.delete("/t8/missing")))
    chk_missing = run_tx("check /t8/missing v0",
                         lambda t: t.check("/t8/missing", 0))
    empty = run_tx("empty transaction", lambda t: None)
    ev_after_failed = obs_ev[n_ev:]
    wire_after_failed = events_since("O", n_wire_ob)
    seq = run_tx("create /t8/q- sequential; create /t8/q- sequential",
                 lambda t: (t.create("/t8/q-", sequence=True), t.create("/t8/q-", sequence=True)))
    nested = run_tx("create /t8/n; create /t8/n/k; set_data /t8/n/k; delete /t8/n/k; delete /t8/n",
                    lambda t: (t.create("/t8/n"), t.create("/t8/n/k"), t.set_data("/t8/n/k", b"z"),
                               t.delete("/t8/n/k"), t.delete("/t8/n")))
    _, p3 = s.op(c, "exists", "/t8")
    _, kids = s.op(c, "get_children", "/t8")
    close_client(ob)
    close_client(c)
    okr = ok.get("result") or []
    s.facts = {
        "success_results": okr,
        "success_result_types": ok.get("result_types"),
        "success_set_stat_mzxid_eq_reply_zxid": (isinstance(okr, list) and len(okr) > 1 and
                                                 okr[1]["mzxid_rel"] == ok["reply_zxid_rel"]),
        "success_zxid_consumed": ok["zxid_consumed"],
        "after_success": {"/t8/x": x1["result"], "/t8": p1["result"], "/t8/new": n1.get("result")},
        "fail_op3_results": bad.get("result"),
        "fail_op3_zxid_consumed": bad["zxid_consumed"],
        "fail_op3_nothing_applied": (x2["result"] == x1["result"] and p2["result"] == p1["result"]
                                     and f1.get("result") is None),
        "fail_op1_results": bad1.get("result"),
        "fail_last_results": bad_last.get("result"),
        "two_failing_ops_results": bad_two.get("result"),
        "check_missing_results": chk_missing.get("result"),
        "empty_results": empty.get("result", empty.get("error")),
        "sequential_in_multi": seq.get("result"),
        "nested_results": nested.get("result"),
        "observer_events": obs_ev,
        "observer_kazoo_events_caused_by_failed_and_empty_multis": ev_after_failed,
        "observer_wire_events_caused_by_failed_and_empty_multis": wire_after_failed,
        "observer_wire_events_all": events_since("O", n_wire_start),
        "parent_at_end": p3["result"],
        "children_at_end_sorted": sorted(kids["result"]),
        "multi_reply_err_when_failed": bad["reply_err"],
    }
    s.save()


def scenario_i(hosts, port):
    s = Scn("i_session_timeout",
            "Negotiated session timeout at tickTime=%d (min=2*tick, max=20*tick "
            "by default). kazoo 'timeout' (seconds) is sent as int(t*1000) ms; "
            "kazoo keeps the requested value in client._session_timeout and "
            "does not store the negotiated one -> read from the ConnectResponse "
            "(hooked) and cross-checked with the 'cons' 4lw." % TICK_MS)
    conf = four(port, "conf")
    s.d["server_min_max"] = {k: v for k, v in (l.split("=", 1) for l in conf.splitlines() if "=" in l)
                             if k in ("tickTime", "minSessionTimeout", "maxSessionTimeout")}
    rows = []
    for t in (0.1, 0.399, 0.4, 1, 3, 4, 4.001, 10, 100):
        c = None
        try:
            c = mk_client("T%s" % t, hosts, timeout=t)
            neg = [x["time_out"] for x in CONNECTS if x["session_id"] == c._session_id]
            cons = four(port, "cons")
            sid_hex = "0x%x" % c._session_id
            to = None
            for line in cons.splitlines():
                if ("sid=%s" % sid_hex) in line:
                    m = re.search(r"to=(\d+)", line)
                    to = int(m.group(1)) if m else None
            rows.append({"kazoo_timeout_s": t, "requested_ms": c._session_timeout,
                         "negotiated_ms": neg[-1] if neg else None,
                         "cons_to_ms": to})
        except Exception as e:
            rows.append({"kazoo_timeout_s": t, "error": exc_info(e)})
        finally:
            if c is not None:
                close_client(c)
    s.d["kazoo"] = rows
    raws = []
    for ms in (0, 1, 399, 400, 401, 1000, 3999, 4000, 4001, 2 ** 31 - 1, -5):
        try:
            sock, resp = raw_session(port, ms)
            raws.append({"requested_ms": ms, "negotiated_ms": resp.time_out,
                         "session_id_nonzero": resp.session_id != 0,
                         "passwd_len": len(resp.passwd)})
            with contextlib.suppress(Exception):
                raw_request(sock, 1, ser.Close())
            sock.close()
        except Exception as e:
            raws.append({"requested_ms": ms, "error": repr(e)})
    s.d["raw_connect"] = raws
    s.facts = {"negotiated": {str(r["requested_ms"]): r.get("negotiated_ms") for r in rows + raws},
               "rule": "negotiated = min(max(requested, minSessionTimeout), maxSessionTimeout)"}
    s.save()


def scenario_k_standalone():
    s = Scn("k_standalone_restart",
            "Standalone server on a fresh data dir: create, restart (SIGTERM, "
            "same data dir), create again. ABSOLUTE zxids (fresh dir).")
    port = free_ports(1)[0]
    srv = ZkServer("restart", port)
    srv.prepare()
    srv.start()
    if not srv.wait_serving(60):
        s.facts = {"error": "server did not start"}
        s.save()
        srv.stop()
        return
    hosts = "127.0.0.1:%d" % port
    c = mk_client("A", hosts)
    c.create("/r")
    st_a = c.create("/r/a", include_data=True)[1]
    z_before = zxid_probe(c)
    close_client(c)
    srvr_before = srvr_info(port)
    srv.stop(signal.SIGTERM)
    srv.start()
    ok = srv.wait_serving(60)
    srvr_after_restart = srvr_info(port)
    c = mk_client("B", hosts)
    z_first = zxid_probe(c)
    st_b = c.create("/r/b", include_data=True)[1]
    st_a2 = c.exists("/r/a")
    close_client(c)
    srv.stop()
    s.steps = [
        {"op": "create /r/a before restart", "czxid_abs": st_a.czxid, "epoch": st_a.czxid >> 32},
        {"op": "srvr before stop", "Zxid": srvr_before.get("Zxid")},
        {"op": "srvr after restart (before any session)", "Zxid": (srvr_after_restart or {}).get("Zxid"),
         "restarted_ok": bool(ok)},
        {"op": "first read after restart (after B's createSession)", "reply_zxid_abs": z_first,
         "epoch": z_first >> 32},
        {"op": "create /r/b after restart", "czxid_abs": st_b.czxid, "epoch": st_b.czxid >> 32},
    ]
    s.facts = {
        "epoch_before": st_a.czxid >> 32, "epoch_after_restart": st_b.czxid >> 32,
        "standalone_restart_changes_epoch": (st_b.czxid >> 32) != (st_a.czxid >> 32),
        "last_zxid_before_stop": z_before, "czxid_after_restart": st_b.czxid,
        "node_survives_restart": st_a2 is not None and st_a2.czxid == st_a.czxid,
    }
    s.save()


def scenario_k_ensemble():
    s = Scn("k_ensemble_epoch",
            "3-server ensemble on 127.0.0.1 (fresh data dirs): leader, zxid "
            "epochs before/after the leader is SIGKILLed, after it rejoins, and "
            "after a second leader kill. ABSOLUTE zxids. Leader choice and "
            "whether the client's session survived may depend on timing.")
    ports = free_ports(9)
    peers = {1: (ports[3], ports[4]), 2: (ports[5], ports[6]), 3: (ports[7], ports[8])}
    srvs = {sid: ZkServer("ens%d" % sid, ports[sid - 1], sid=sid, peers=peers) for sid in (1, 2, 3)}
    for x in srvs.values():
        x.prepare()
    for x in srvs.values():
        x.start()

    def modes():
        return {sid: x.mode() for sid, x in srvs.items() if x.proc is not None}

    def leader():
        ms = modes()
        ls = [sid for sid, m in ms.items() if m == "leader"]
        if len(ls) == 1 and all(m in ("leader", "follower") for m in ms.values()):
            return ls[0]
        return None

    steps = []
    t0 = time.monotonic()
    L1 = wait_until(leader, 90, 0.2)
    steps.append({"op": "start 3 servers", "modes": modes(), "leader": L1,
                  "secs": round(time.monotonic() - t0, 1)})
    if not L1:
        s.facts = {"error": "ensemble did not elect a leader within 90s"}
        s.steps = steps
        s.save()
        for x in srvs.values():
            x.stop(signal.SIGKILL)
        return
    states = []
    order = [sid for sid in (1, 2, 3) if sid != L1] + [L1]
    hosts = ",".join("127.0.0.1:%d" % srvs[sid].client_port for sid in order)
    c = mk_client("C", hosts, timeout=10.0, randomize_hosts=False)
    c.add_listener(lambda st: states.append(st))
    sess0 = c._session_id

    def mkn(path):
        st = c.create(path, include_data=True)[1]
        try:
            peer = c._connection._socket.getpeername()[1]
            via = [sid for sid, x in srvs.items() if x.client_port == peer][0]
        except Exception:
            via = None
        return {"op": "create " + path, "czxid_abs_hex": "0x%x" % st.czxid,
                "epoch": st.czxid >> 32, "counter": st.czxid & 0xffffffff,
                "client_connected_to_sid": via,
                "modes": modes()}

    c.create("/k")
    steps.append(mkn("/k/a"))
    steps.append({"op": "srvr Zxid", "zxids": {sid: (srvr_info(x.client_port) or {}).get("Zxid") for sid, x in srvs.items()}})
    epochs = [steps[-2]["epoch"]]

    def kill_leader(L):
        srvs[L].stop(signal.SIGKILL)
        t = time.monotonic()
        NL = wait_until(lambda: (lambda l: l if l and l != L else None)(leader()), 90, 0.2)
        conn = wait_until(lambda: c.connected and c.exists("/k") is not None, 60, 0.2)
        steps.append({"op": "SIGKILL leader %d" % L, "new_leader": NL, "modes": modes(),
                      "secs_to_new_leader_and_client": round(time.monotonic() - t, 1),
                      "client_reconnected": bool(conn)})
        return NL

    L2 = kill_leader(L1)
    if L2:
        steps.append(mkn("/k/b"))
        epochs.append(steps[-1]["epoch"])
        steps.append({"op": "exists /k/a after leader change", "czxid_abs_hex": "0x%x" % c.exists("/k/a").czxid})
        srvs[L1].start()
        rej = wait_until(lambda: srvs[L1].mode() == "follower", 90, 0.2)
        steps.append({"op": "restart old leader %d" % L1, "mode": srvs[L1].mode(), "rejoined": bool(rej)})
        steps.append(mkn("/k/c"))
        epochs.append(steps[-1]["epoch"])
        steps.append({"op": "srvr Zxid", "zxids": {sid: (srvr_info(x.client_port) or {}).get("Zxid") for sid, x in srvs.items()}})
        L3 = kill_leader(L2)
        if L3:
            steps.append(mkn("/k/d"))
            epochs.append(steps[-1]["epoch"])
    kstates = [str(x) for x in states]
    sess_same = c._session_id == sess0
    with contextlib.suppress(Exception):
        close_client(c)
    for x in srvs.values():
        x.stop()
    s.steps = steps
    s.facts = {
        "epochs_sequence": epochs,
        "labels": "epoch of /k/a (initial), /k/b (after 1st leader kill), /k/c (old leader rejoined as follower), /k/d (after 2nd leader kill)",
        "epoch_increments_by_one_per_leader_change": (len(epochs) == 4 and epochs[1] - epochs[0] == 1
                                                      and epochs[3] - epochs[2] == 1),
        "first_txn_counter_in_new_epoch": [st["counter"] for st in steps if st.get("op") in ("create /k/b", "create /k/d")],
        "epoch_unchanged_when_follower_rejoins": len(epochs) >= 3 and epochs[2] == epochs[1],
        "initial_leader_sid": L1,
        "kazoo_state_changes": kstates,
        "client_session_survived": sess_same,
    }
    s.save()


# --------------------------------------------------------------------------
# l: failover timings on a 3-server ensemble
# --------------------------------------------------------------------------
L_SAMPLES = 5        # samples per case, each on a fresh ensemble
L_POLL_S = 0.01      # 4lw 'srvr' polling interval
L_WRITE_GAP_S = 0.01  # pause between two writes of the writing client
L_WAIT_S = 60        # bound on every wait after the fault


def l_mode(port, timeout=0.5):
    """What 'srvr' says right now: leader | follower | not_serving |
    refused | timeout | error:<class>."""
    try:
        txt = four(port, "srvr", timeout)
    except ConnectionRefusedError:
        return "refused"
    except socket.timeout:
        return "timeout"
    except OSError as e:
        return "error:" + type(e).__name__
    if "not currently serving" in txt:
        return "not_serving"
    m = re.search(r"^Mode: (\S+)", txt, re.M)
    if m:
        return m.group(1)
    return "timeout" if not txt else "other:" + txt[:60]


class LEnsemble:
    """A fresh 3-server ensemble under /tmp/zkgolden/l/<tag>/."""

    def __init__(self, tag):
        ports = free_ports(9)
        peers = {1: (ports[3], ports[4]), 2: (ports[5], ports[6]), 3: (ports[7], ports[8])}
        self.srvs = {sid: ZkServer("l/%s/s%d" % (tag, sid), ports[sid - 1], sid=sid, peers=peers)
                     for sid in (1, 2, 3)}
        self.leader = None
        self.start_secs = None

    def start(self):
        for x in self.srvs.values():
            x.prepare()
        t = time.monotonic()
        for x in self.srvs.values():
            x.start()

        def settled():
            ms = {sid: l_mode(x.client_port) for sid, x in self.srvs.items()}
            ls = [sid for sid, m in ms.items() if m == "leader"]
            if len(ls) == 1 and list(ms.values()).count("follower") == 2:
                return ls[0]
            return None
        self.leader = wait_until(settled, 90, 0.2)
        self.start_secs = round(time.monotonic() - t, 2)
        return self.leader

    def followers(self):
        return [sid for sid in sorted(self.srvs) if sid != self.leader]

    def hosts(self, sids):
        return ",".join("127.0.0.1:%d" % self.srvs[sid].client_port for sid in sids)

    def sid_of(self, c):
        try:
            peer = c._connection._socket.getpeername()[1]
            return [sid for sid, x in self.srvs.items() if x.client_port == peer][0]
        except Exception:
            return None

    def stop(self):
        for x in self.srvs.values():
            if x.proc is not None and x.proc.poll() is None:
                with contextlib.suppress(Exception):
                    x.proc.send_signal(signal.SIGCONT)
            x.stop(signal.SIGKILL, 5)


class LModePoller(threading.Thread):
    """Polls 'srvr' on the given servers every L_POLL_S; keeps mode changes."""

    def __init__(self, srvs, sids):
        super().__init__(daemon=True)
        self.ports = {sid: srvs[sid].client_port for sid in sids}
        self.changes = []   # (monotonic time, sid, mode)
        self.last = {}
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            for sid, port in self.ports.items():
                m = l_mode(port)
                if self.last.get(sid) != m:
                    self.last[sid] = m
                    self.changes.append((time.monotonic(), sid, m))
            self.halt.wait(L_POLL_S)

    def first(self, t0, pred):
        """Seconds from t0 to the first moment the modes (sid -> mode, as last
        seen) satisfy pred, or None."""
        cur = {}
        for t, sid, m in self.changes:
            cur[sid] = m
            if t >= t0 and pred(dict(cur)):
                return round(t - t0, 3)
        return None

    def timeline(self, t0):
        return [[round(t - t0, 3), sid, m] for t, sid, m in self.changes if t >= t0]


class LWriter(threading.Thread):
    """Writes /l/x in a loop; keeps (issued, done, outcome) of every write."""

    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.log = []
        self.halt = threading.Event()

    def run(self):
        n = 0
        while not self.halt.is_set():
            t1 = time.monotonic()
            try:
                self.c.set_async("/l/x", b"%d" % n).get(timeout=30)
                out = "ok"
            except Exception as e:  # noqa
                out = type(e).__name__
            self.log.append((t1, time.monotonic(), out))
            n += 1
            self.halt.wait(L_WRITE_GAP_S)


def l_listen(c):
    states = []
    c.add_listener(lambda st: states.append((time.monotonic(), str(st))))
    return states


def l_states_after(states, t0):
    return [[round(t - t0, 3), st] for t, st in states if t >= t0]


def l_first_state(states, t0, name, after=None):
    for t, st in states:
        if t >= t0 and st == name and (after is None or t >= after):
            return t
    return None


def l_attempts(ens, c, t0):
    """kazoo's connection attempts after t0: [start, sid, end, outcome]."""
    label = LABELS.get(id(c))
    by_port = {x.client_port: sid for sid, x in ens.srvs.items()}
    return [[round(a["t"] - t0, 3), by_port.get(a["port"]),
             round(a["t_end"] - t0, 3) if a.get("t_end") else None, a["outcome"]]
            for a in CONNECT_ATTEMPTS if a["client"] == label and a["t"] >= t0]


def l_close(c):
    """close_client, bounded: a client still trying a frozen server must not
    hold up the run."""
    def run():
        with contextlib.suppress(Exception):
            close_client(c)
    th = threading.Thread(target=run, daemon=True)
    th.start()
    th.join(15)


NO_LEADER = {"error": "ensemble did not elect a leader within 90s"}


def l_started(name):
    """A fresh ensemble for one sample and its leader's sid, or (None, None) if it elected none."""
    ens = LEnsemble(name)
    leader = ens.start()
    if not leader:
        ens.stop()
        return None, None
    return ens, leader


def l_client_on_a_follower(tag, i):
    """A fresh ensemble for one sample, its leader and followers, and a client (its states
    listened to) that tries the followers first; None if the ensemble elected no leader."""
    ens, L = l_started("%s-%d" % (tag, i))
    if ens is None:
        return None
    F1, F2 = ens.followers()
    c = mk_client("%s%d" % (tag, i), ens.hosts([F1, F2, L]), timeout=10.0, randomize_hosts=False)
    return ens, L, F1, F2, c, l_listen(c)


def l_writer_case(tag, i, freeze):
    """leader_kill (freeze=False) / leader_power_off (freeze=True)."""
    started = l_client_on_a_follower(tag, i)
    if started is None:
        return NO_LEADER
    ens, L, F1, F2, c, states = started
    sess0 = c._session_id
    c.ensure_path("/l/x")
    via0 = ens.sid_of(c)
    poller = LModePoller(ens.srvs, [F1, F2])
    poller.start()
    writer = LWriter(c)
    writer.start()
    time.sleep(0.5)
    ens.srvs[L].proc.send_signal(signal.SIGSTOP if freeze else signal.SIGKILL)
    t0 = time.monotonic()
    serving = lambda ms: sorted(ms.get(s) for s in (F1, F2)) == ["follower", "leader"]  # noqa
    ok_write = lambda: any(t1 >= t0 and out == "ok" for t1, _, out in writer.log)  # noqa
    reconn = lambda: any(t >= t0 and st == "CONNECTED" for t, st in states)  # noqa
    wait_until(lambda: poller.first(t0, serving) is not None and ok_write() and reconn(),
               L_WAIT_S, 0.05)
    time.sleep(0.3)
    writer.halt.set()
    writer.join(35)
    poller.halt.set()
    poller.join(5)
    first_ok = [t2 for t1, t2, out in writer.log if t1 >= t0 and out == "ok"]
    in_flight = [(t2, out) for t1, t2, out in writer.log if t1 < t0 <= t2]
    failed = [out for t1, t2, out in writer.log if t2 >= t0 and out != "ok"]
    t_susp = l_first_state(states, t0, "SUSPENDED")
    t_conn = l_first_state(states, t0, "CONNECTED", after=t_susp) if t_susp else None
    new_leader = [sid for sid in (F1, F2) if poller.last.get(sid) == "leader"]
    rec = {
        "leader_sid": L, "follower_sids": [F1, F2],
        "client_connected_to_sid_before": via0,
        "ensemble_start_secs": ens.start_secs,
        "secs_survivor_stops_serving": poller.first(
            t0, lambda ms: any(ms.get(s) != "follower" for s in (F1, F2))),
        "secs_new_leader_serving": poller.first(t0, lambda ms: "leader" in ms.values()),
        "secs_survivors_serving": poller.first(t0, serving),
        "secs_first_write_ok": round(first_ok[0] - t0, 3) if first_ok else None,
        "secs_client_suspended": round(t_susp - t0, 3) if t_susp else None,
        "secs_client_reconnected": round(t_conn - t0, 3) if t_conn else None,
        "new_leader_sid": new_leader[0] if len(new_leader) == 1 else None,
        "client_connected_to_sid_after": ens.sid_of(c),
        "session_kept": c._session_id == sess0,
        "kazoo_states": [st for _, st in l_states_after(states, t0)],
        "kazoo_state_times": l_states_after(states, t0),
        "kazoo_connect_attempts": l_attempts(ens, c, t0),
        "write_in_flight_at_fault": ({"outcome": in_flight[0][1],
                                      "secs_done": round(in_flight[0][0] - t0, 3)}
                                     if in_flight else None),
        "failed_writes_after_fault": failed,
        "survivor_srvr_timeline": poller.timeline(t0),
    }
    l_close(c)
    ens.stop()
    return rec


def l_both_followers_killed(i):
    ens, L = l_started("both_followers_killed-%d" % i)
    if ens is None:
        return NO_LEADER
    F1, F2 = ens.followers()
    c = mk_client("lbf%d" % i, ens.hosts([L]), timeout=10.0)
    states = l_listen(c)
    poller = LModePoller(ens.srvs, [L])
    poller.start()
    time.sleep(0.5)
    ens.srvs[F1].proc.send_signal(signal.SIGKILL)
    ens.srvs[F2].proc.send_signal(signal.SIGKILL)
    t0 = time.monotonic()
    wait_until(lambda: poller.first(t0, lambda ms: ms.get(L) != "leader") is not None
               and l_first_state(states, t0, "SUSPENDED"), L_WAIT_S, 0.05)
    time.sleep(1.0)
    poller.halt.set()
    poller.join(5)
    t_susp = l_first_state(states, t0, "SUSPENDED")
    rec = {
        "leader_sid": L, "follower_sids": [F1, F2],
        "ensemble_start_secs": ens.start_secs,
        "secs_leader_stops_serving": poller.first(t0, lambda ms: ms.get(L) != "leader"),
        "leader_srvr_after": poller.last.get(L),
        "secs_client_on_leader_suspended": round(t_susp - t0, 3) if t_susp else None,
        "kazoo_states": [st for _, st in l_states_after(states, t0)],
        "leader_srvr_timeline": poller.timeline(t0),
    }
    l_close(c)
    ens.stop()
    return rec


def l_client_server_case(tag, i, freeze):
    """client_server_killed (freeze=False) / client_server_power_off (True)."""
    started = l_client_on_a_follower(tag, i)
    if started is None:
        return NO_LEADER
    ens, L, F, _, c, states = started
    b = mk_client("%s%d-B" % (tag, i), ens.hosts([L]), timeout=10.0)
    sess0 = c._session_id
    via0 = ens.sid_of(c)
    b.ensure_path("/l")
    b.create("/l/w", b"before")
    c.create("/l/e", ephemeral=True)
    cbs = []
    c.get("/l/w", watch=lambda ev: cbs.append((time.monotonic(), ev)))
    time.sleep(0.5)
    n_wire = len(WIRE)
    ens.srvs[F].proc.send_signal(signal.SIGSTOP if freeze else signal.SIGKILL)
    t0 = time.monotonic()
    def back():
        ts = l_first_state(states, t0, "SUSPENDED")
        return ts and l_first_state(states, t0, "CONNECTED", after=ts)
    wait_until(back, L_WAIT_S, 0.01)
    t_susp = l_first_state(states, t0, "SUSPENDED")
    t_conn = l_first_state(states, t0, "CONNECTED", after=t_susp) if t_susp else None
    via1 = ens.sid_of(c)
    st_e = None
    with contextlib.suppress(Exception):
        st_e = b.exists("/l/e")
    n_cb = len(cbs)
    t_set = time.monotonic()
    b.set("/l/w", b"after")
    wait_until(lambda: len(cbs) > n_cb, 3.0, 0.01)
    time.sleep(0.3)
    label = LABELS[id(c)]
    rec = {
        "leader_sid": L, "client_server_sid": F,
        "client_connected_to_sid_before": via0,
        "ensemble_start_secs": ens.start_secs,
        "secs_client_suspended": round(t_susp - t0, 3) if t_susp else None,
        "secs_client_reconnected": round(t_conn - t0, 3) if t_conn else None,
        "client_connected_to_sid_after": via1,
        "session_kept": c._session_id == sess0,
        "ephemeral_exists_after": st_e is not None,
        "ephemeral_owner_is_client": st_e is not None and st_e.ephemeralOwner == sess0,
        "kazoo_states": [st for _, st in l_states_after(states, t0)],
        "kazoo_state_times": l_states_after(states, t0),
        "kazoo_connect_attempts": l_attempts(ens, c, t0),
        "watch_callbacks": [{"secs": round(t - t0, 3), "type": ev.type, "state": ev.state,
                             "path": ev.path} for t, ev in cbs],
        "watch_fired_by_set_after_reconnect": len(cbs) > n_cb,
        "wire_events_after_fault": events_since(label, n_wire),
        "secs_set_after_fault": round(t_set - t0, 3),
    }
    l_close(b)
    l_close(c)
    ens.stop()
    return rec


L_CASES = {
    "leader_kill": (
        "Client (kazoo timeout 10 s, negotiated 4 s) connected to a follower, hosts "
        "'follower,follower,leader', randomize_hosts=False, writes /l/x in a loop "
        "(%g s pause). The leader is SIGKILLed. Times are seconds after the signal. "
        "srvr is polled on both survivors every %g s." % (L_WRITE_GAP_S, L_POLL_S),
        lambda i: l_writer_case("leader_kill", i, freeze=False)),
    "leader_power_off": (
        "As leader_kill, but the leader is SIGSTOPped (a frozen machine: no RST, no "
        "close); it is killed after the measurement.",
        lambda i: l_writer_case("leader_power_off", i, freeze=True)),
    "both_followers_killed": (
        "Both followers are SIGKILLed; srvr is polled on the leader every %g s. A "
        "kazoo client connected only to the leader records its states." % L_POLL_S,
        l_both_followers_killed),
    "client_server_killed": (
        "Client C (hosts 'F,G,leader', randomize_hosts=False) is connected to follower F, "
        "has an ephemeral /l/e and a data watch (get with watch=) on /l/w. F is SIGKILLed. "
        "After C is CONNECTED again, client B (on the leader) checks /l/e and sets /l/w; "
        "C's watch callbacks are recorded for 3 s after that set.",
        lambda i: l_client_server_case("client_server_killed", i, freeze=False)),
    "client_server_power_off": (
        "As client_server_killed, but F is SIGSTOPped (frozen, socket kept open); it is "
        "killed after the measurement.",
        lambda i: l_client_server_case("client_server_power_off", i, freeze=True)),
}

L_FIGURES = ("secs_survivor_stops_serving", "secs_new_leader_serving", "secs_survivors_serving",
             "secs_first_write_ok", "secs_client_suspended", "secs_client_reconnected",
             "secs_leader_stops_serving", "secs_client_on_leader_suspended")


def scenario_l():
    s = Scn("l_failover_timing",
            "Failover timings of a real 3-server ensemble on 127.0.0.1 (tickTime=%d, "
            "initLimit=50, syncLimit=25). Each sample uses a fresh ensemble. Figures are "
            "seconds after the fault signal (monotonic clock); every sample is kept, with "
            "min/max per figure in 'summary'. 'kazoo_states' are the KazooState changes "
            "the client's listener saw after the fault." % TICK_MS)
    s.d["server_config"] = {"mode": "3-server ensemble, server.N=127.0.0.1:qport:eport",
                            "tickTime": TICK_MS, "initLimit": 50, "syncLimit": 25,
                            "minSessionTimeout_default": 2 * TICK_MS,
                            "maxSessionTimeout_default": 20 * TICK_MS}
    s.d["client"] = {"kazoo_timeout_s": 10.0, "negotiated_session_timeout_ms": 20 * TICK_MS,
                     "samples_per_case": L_SAMPLES, "srvr_poll_interval_s": L_POLL_S}
    s.d["figures"] = {
        "secs_survivor_stops_serving": "first srvr answer from a survivor that is not 'Mode: follower'",
        "secs_new_leader_serving": "first srvr 'Mode: leader' from a survivor",
        "secs_survivors_serving": "first moment both survivors answer, one leader and one follower",
        "secs_first_write_ok": "completion of the first successful write issued after the fault",
        "secs_client_suspended": "kazoo listener sees SUSPENDED",
        "secs_client_reconnected": "kazoo listener sees CONNECTED after that SUSPENDED",
        "secs_leader_stops_serving": "first srvr answer from the leader that is not 'Mode: leader'",
        "secs_client_on_leader_suspended": "kazoo client connected to the leader sees SUSPENDED",
        "kazoo_connect_attempts": "[start secs, server sid, end secs, outcome] of each kazoo "
                                  "ConnectionHandler._connect after the fault",
        "survivor_srvr_timeline": "[secs, sid, mode] each time a polled srvr answer changed",
    }
    shutil.rmtree(os.path.join(WORK, "l"), ignore_errors=True)
    cases = {}
    for name, (desc, run) in L_CASES.items():
        samples = []
        for i in range(1, L_SAMPLES + 1):
            try:
                rec = run(i)
            except Exception as e:  # noqa
                log.exception("l %s #%d failed", name, i)
                rec = {"error": repr(e)}
            log.info("l %s #%d: %s", name, i,
                     {k: v for k, v in rec.items() if k in L_FIGURES or k == "kazoo_states"})
            samples.append(rec)
        summary = {}
        for fig in L_FIGURES:
            vals = [r.get(fig) for r in samples if fig in r]
            if not vals:
                continue
            nums = [v for v in vals if v is not None]
            summary[fig] = {"min": min(nums) if nums else None,
                            "max": max(nums) if nums else None,
                            "samples": vals}
        for flag in ("session_kept", "ephemeral_exists_after", "watch_fired_by_set_after_reconnect"):
            vals = [r.get(flag) for r in samples if flag in r]
            if vals:
                summary[flag] = vals
        seqs = sorted({" -> ".join(r.get("kazoo_states", [])) for r in samples})
        summary["kazoo_state_sequences"] = seqs
        cases[name] = {"description": desc, "summary": summary, "samples": samples}
    s.d["cases"] = cases
    s.facts = {name: {fig: [v["min"], v["max"]] for fig, v in c["summary"].items()
                      if isinstance(v, dict)}
               for name, c in cases.items()}
    s.save()


# --------------------------------------------------------------------------
def main():
    wd = threading.Timer(WATCHDOG_S, watchdog)
    wd.daemon = True
    wd.start()
    os.makedirs(WORK, exist_ok=True)
    try:
        port = free_ports(1)[0]
        srv = ZkServer("standalone", port)
        srv.prepare()
        srv.start()
        if not srv.wait_serving(60):
            raise SystemExit("standalone server did not start; see %s/server.log" % srv.dir)
        hosts = "127.0.0.1:%d" % port
        info = srvr_info(port)
        ver = info.get("Zookeeper version", "")
        try:
            deb = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "zookeeper"],
                                 capture_output=True, text=True, timeout=10).stdout.strip()
        except Exception:
            deb = None
        jv_out = subprocess.run([JAVA, "-version"], capture_output=True, text=True, timeout=30).stderr
        COMMON.update({
            "zookeeper_version": ver,
            "zookeeper_version_number": (re.match(r"[\d.]+", ver) or [None])[0] if ver else None,
            "debian_package_version": deb,
            "kazoo_version": kazoo.version.__version__ if hasattr(kazoo, "version") else None,
            "java_version": jv_out.splitlines()[0] if jv_out else None,
            "server_config": {"mode": "standalone unless stated", "tickTime": TICK_MS,
                              "minSessionTimeout_default": 2 * TICK_MS,
                              "maxSessionTimeout_default": 20 * TICK_MS},
        })
        only = set(sys.argv[1:])

        def want(x):
            return not only or x in only
        if want("j"):
            scenario_j(port, hosts)
        if want("a"):
            scenario_a(hosts)
        if want("b"):
            scenario_b(hosts)
        if want("c"):
            scenario_c(hosts)
        if want("d"):
            scenario_d(hosts)
        if want("e"):
            scenario_e(hosts)
        if want("f"):
            scenario_f(hosts, port)
        if want("g"):
            scenario_g(hosts)
        if want("h"):
            scenario_h(hosts)
        if want("i"):
            scenario_i(hosts, port)
        srv.stop()
        if want("k"):
            scenario_k_standalone()
            scenario_k_ensemble()
        if want("l"):
            scenario_l()
    finally:
        stop_all()
        wd.cancel()


if __name__ == "__main__":
    import kazoo.version  # noqa: F401
    main()
