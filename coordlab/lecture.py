"""Serving a lecture hall: the addresses this machine has on its networks, the host
names the server then answers to, and the address a page gives out.

``python -m coordlab.serve --lecture`` (``make lecture``) listens on every interface,
finds the machine's LAN addresses and names (``lan_addresses``, ``machine_names``),
puts them in ``COORDLAB_LECTURE_HOSTS`` for the settings to allow, and prints the
join address to give students. Only those names are allowed, not any name (``*``):
a page a student's browser loaded from another site cannot rebind its own name to
this machine and read the server's answers (DNS rebinding).

Every address a page shows (the classroom's join address and QR code, the terminal
commands) starts with ``public_origin(request)``: the scheme and host the request
came to, so a student who reached the server as ``http://lecture-hall.local:8000``
is shown that. A page opened at a loopback name (127.0.0.1, localhost), which no
one else can reach, gives out the lecture's first host instead.

Finding the addresses talks to no other host: it reads the interfaces (``ip -j
addr``, else ``ifconfig``), else resolves the machine's own name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import split_domain_port

#: interfaces of containers and virtual machines on this machine, which nobody in the hall can reach
VIRTUAL_INTERFACES = ("docker", "br-", "veth", "virbr", "vnet", "lxc", "lxd", "cni", "flannel", "cali", "podman")
COMMAND_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Address:
    """One of the machine's addresses, and the interface that has it ('' if not known)."""

    ip: str
    interface: str = ""

    @property
    def host(self) -> str:
        """The address as a URL's host: an IPv6 address in brackets."""
        return f"[{self.ip}]" if ":" in self.ip else self.ip


def reachable(ip: str) -> bool:
    """Whether another machine on a network could reach this address (not loopback, link-local,
    unspecified or multicast)."""
    try:
        address = ipaddress.ip_address(ip.split("%")[0])
    except ValueError:
        return False
    return not (address.is_loopback or address.is_link_local or address.is_unspecified or address.is_multicast)


def _run(*command: str) -> str:
    """What a local command prints ('' if it is not installed or fails); /sbin may not be on PATH."""
    path = shutil.which(command[0]) or shutil.which(command[0], path="/usr/sbin:/sbin")
    if path is None:
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run([path, *command[1:]], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S,
                              check=True).stdout
    return ""


def from_ip_command(output: str) -> list[Address]:
    """The global addresses of the interfaces that are up, from ``ip -j addr`` (Linux)."""
    try:
        interfaces: list[dict[str, Any]] = json.loads(output)
    except ValueError:
        return []
    found = []
    for interface in interfaces:
        flags = interface.get("flags", ())
        if "UP" not in flags or "LOOPBACK" in flags:
            continue
        found += [Address(info["local"], interface.get("ifname", "")) for info in interface.get("addr_info", ())
                  if info.get("family") in ("inet", "inet6") and info.get("scope") == "global" and "local" in info]
    return found


IFCONFIG_INTERFACE = re.compile(r"^(?P<name>[^\s:]+):? .*?flags=\S*<(?P<flags>[^>]*)>")
IFCONFIG_ADDRESS = re.compile(r"^\s+inet6? (?:addr:)?(?P<ip>[0-9A-Fa-f.:%]+\w*)")


def from_ifconfig(output: str) -> list[Address]:
    """The addresses of the interfaces that are up, from ``ifconfig`` (macOS, the BSDs, net-tools)."""
    found, name, up = [], "", False
    for line in output.splitlines():
        if match := IFCONFIG_INTERFACE.match(line):
            name, up = match["name"], "UP" in match["flags"].split(",")
        elif (match := IFCONFIG_ADDRESS.match(line)) and up:
            found.append(Address(match["ip"].split("%")[0], name))
    return found


def from_hostname() -> list[Address]:
    """The addresses the machine's own name resolves to (often only 127.0.1.1)."""
    with contextlib.suppress(OSError):
        return [Address(str(info[4][0])) for info in socket.getaddrinfo(socket.gethostname(), None)]
    return []


def default_interface() -> str:
    """The interface of the IPv4 default route, from /proc/net/route (Linux); '' if not known."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and fields[1] == "00000000":
                return fields[0]
    return ""


def lan_addresses() -> list[Address]:
    """The addresses others on this machine's networks can reach it at, each once: IPv4 before
    IPv6, the default route's interface first; loopback, link-local and the bridges of
    containers left out."""
    found = from_ip_command(_run("ip", "-j", "addr", "show")) or from_ifconfig(_run("ifconfig")) or from_hostname()
    usable = [a for a in found if reachable(a.ip) and not a.interface.startswith(VIRTUAL_INTERFACES)]
    default = default_interface()
    unique = list(dict.fromkeys(usable))
    return sorted(unique, key=lambda a: (":" in a.ip, a.interface != default))


def machine_names() -> list[str]:
    """The names others may reach this machine by: its full name, its mDNS name (``name.local``)
    and its bare name, lowercase; none if it is called localhost."""
    hostname = socket.gethostname().lower().rstrip(".")
    if not hostname or hostname.split(".")[0] == "localhost":
        return []
    short, fqdn = hostname.split(".")[0], ""
    with contextlib.suppress(OSError):
        fqdn = socket.getfqdn().lower().rstrip(".")
    names = [fqdn if "." in fqdn and not fqdn.startswith("localhost") else "", f"{short}.local", hostname, short]
    return list(dict.fromkeys(name for name in names if name))


#: what ``--allow-host`` takes: a name or an IP address, without a scheme or a port
HOST_NAME = re.compile(r"[a-z0-9.-]+|\[[0-9a-f:.]+\]")


def given_hosts(values: list[str]) -> list[str]:
    """The names given with ``--allow-host`` (each may list several, separated by commas),
    lowercase; ValueError naming one that is not a bare host name or address."""
    hosts = [host.strip().lower() for value in values for host in value.split(",") if host.strip()]
    for host in hosts:
        if not HOST_NAME.fullmatch(host):
            raise ValueError(f"{host!r} is not a host name: give a name or an address, without http:// or a port")
    return list(dict.fromkeys(hosts))


def lecture_hosts(given: list[str], addresses: list[Address], names: list[str]) -> list[str]:
    """What ``COORDLAB_LECTURE_HOSTS`` holds: the names given with ``--allow-host`` first (the
    lecturer said students use them), then the addresses, then the machine's names."""
    hosts = given + [a.host for a in addresses] + names
    return list(dict.fromkeys(hosts))


def banner(given: list[str], addresses: list[Address], names: list[str], port: int) -> str:
    """What ``make lecture`` prints: the join addresses to give students (the names given with
    ``--allow-host``, then the IPv4 addresses), and what to check when phones cannot connect."""
    ipv4 = [a for a in addresses if ":" not in a.ip] or addresses
    shown = [(host, "") for host in given] + [(a.host, a.interface) for a in ipv4]
    lines = [f"CoordLab serves a lecture hall on port {port}, on every network interface."]
    if shown:
        lines.append("Students on this machine's network join at:")
        lines += [f"    http://{host}:{port}/join/" + (f"    ({interface})" if interface else "")
                  for host, interface in shown]
        lines.append(f"Open it yourself at http://{shown[0][0]}:{port}/ (a classroom's join address and QR code "
                     "use the address you open it at; at 127.0.0.1, the first one above).")
    else:
        lines.append("No network address found: join the lecture hall's network, then start again.")
    others = [host for host in lecture_hosts(given, addresses, names) if host not in dict(shown)]
    if others:
        lines.append(f"It also answers to {', '.join(others)}. To add a name students use: make lecture HOSTS=name")
    lines.append(f"Phones cannot connect? They must be on the same network (not a guest Wi-Fi), and the "
                 f"firewall must let TCP port {port} in (README, \"Serving a lecture hall\").")
    return "\n".join(lines)


def is_loopback(domain: str) -> bool:
    """Whether a host name (``localhost``, ``127.0.0.1``, ``[::1]``) names this machine to itself alone."""
    if domain == "localhost" or domain.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(domain.strip("[]")).is_loopback
    except ValueError:
        return False


def public_origin(request: HttpRequest) -> str:
    """``scheme://host[:port]`` to put in the addresses a page gives out: the one the request came
    to, unless that is a loopback name and the server serves a lecture hall (then the lecture's
    first host, with the request's port)."""
    host = request.get_host()
    lecture: list[str] = settings.COORDLAB_LECTURE_HOSTS
    domain, port = split_domain_port(host)
    if lecture and is_loopback(domain):
        host = lecture[0] + (f":{port}" if port else "")
    return f"{request.scheme}://{host}"


def server_url(request: HttpRequest) -> dict[str, str]:
    """Context processor: ``server_url``, this server's address as the page gives it out
    (``--server`` of the terminal commands), and ``server_host``, its host name alone (a Kafka
    lab's bootstrap address)."""
    try:
        origin = public_origin(request)
    except DisallowedHost:
        return {}
    host = split_domain_port(origin.split("://", 1)[1])[0]
    # the Kafka brokers' ports answer on COORDLAB_WIRE_HOST only (loopback unless set otherwise: they check
    # no access, so a lab's records are anyone's who can reach them): a page not given on that
    # machine does not offer them
    wire_reachable = not is_loopback(settings.COORDLAB_WIRE_HOST) or \
        is_loopback(split_domain_port(request.get_host())[0])
    return {"server_url": origin, "server_host": host, "wire_reachable": wire_reachable}


class RefusedHost(logging.Filter):
    """Makes the log line of a request for a host name that is not allowed one line (no
    traceback) that says how a lecture allows the name."""

    def filter(self, record: logging.LogRecord) -> bool:
        host = getattr(getattr(record, "request", None), "META", {}).get("HTTP_HOST", "")
        name = split_domain_port(host)[0] if host else ""
        record.msg = f"Refused a request for host {host!r}: not an allowed name." + (
            f" If students reach this machine by that name: make lecture HOSTS={name}"
            if HOST_NAME.fullmatch(name) else "")
        record.args, record.exc_info, record.exc_text = (), None, None
        return True
