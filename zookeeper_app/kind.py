"""The ZooKeeper lab kind: its scenarios, page, frames, safety checks and the
"you" client's console, as the platform sees them."""

from __future__ import annotations

from typing import Any

from coordlab.labs.commands import CommandError, flag, machine_name, number, op_name, text
from coordlab.labs.kinds import KindCommand, LabKind
from coordlab.sim import Simulation

from . import frames
from .model.checks import violations
from .model.console import CONSOLE_CLIENT, OPS, console_client, console_senders
from .scenarios import SCENARIOS

MAX_PATH_LENGTH = 200


def znode_path(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.startswith("/"):
        raise CommandError("A znode path starts with “/”, for example /app/config.")
    if len(value) > MAX_PATH_LENGTH:
        raise CommandError(f"That path is too long (at most {MAX_PATH_LENGTH} characters here).")
    return value


def version(value: Any, field: str) -> int:
    given = number(value if value != "" else -1, field)
    if given != int(given) or given < -1:
        raise CommandError("A version is a whole number; -1 means any version.")
    return int(given)


def check_console(sim: Simulation, args: dict[str, Any]) -> tuple[dict[str, Any], str]:
    if console_client(sim) is None:
        raise CommandError("This lab has no console.")
    if args["op"] not in OPS:
        raise CommandError(f"Unknown operation '{args['op']}' (try: {', '.join(OPS)}).")
    senders = console_senders(sim)
    if args["client"] not in senders:
        raise CommandError(f"'{args['client']}' is not a ZooKeeper client of this lab (clients: {', '.join(senders)}).")
    if not sim.nodes[args["client"]].alive:
        raise CommandError(f"{args['client']} is down: restart it first.")
    logged = dict(args)
    if args["client"] == CONSOLE_CLIENT:
        del logged["client"]  # (as logged before the console could act as other clients)
    return logged, f"Sent as {args['client']}: the answer appears in the console."


def run_console(sim: Simulation, logged: dict[str, Any]) -> None:
    you = console_client(sim)
    assert you is not None
    you.run(sim, **logged)


CONSOLE = KindCommand(
    fields={"op": op_name, "path": znode_path, "data": text, "ephemeral": flag, "sequential": flag,
            "watch": flag, "version": version, "client": machine_name},
    defaults={"data": "", "ephemeral": False, "sequential": False, "watch": False, "version": -1,
              "client": CONSOLE_CLIENT},
    check=check_console, apply=run_console)

KIND = LabKind(
    slug="zookeeper", heading="ZooKeeper: coordination", position=20, scenarios=SCENARIOS,
    context=frames.context, panels="zookeeper/page_panels.html",
    fragments=("labs/partials/toggles.html", "zookeeper/partials/ensemble.html", "zookeeper/partials/safety.html",
               "zookeeper/partials/metrics.html", "zookeeper/partials/tree.html",
               "zookeeper/partials/sessions.html", "zookeeper/partials/console.html"),
    safety=violations, commands={"console": CONSOLE})
