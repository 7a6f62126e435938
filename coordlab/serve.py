"""Run CoordLab under daphne with the project's server options.

``python -m coordlab.serve [--port 8000] [--host 127.0.0.1]`` is what
``make run``, the browser tests and the benchmark start, so they all run the
same server. Incoming WebSocket messages may be up to 16 MiB: larger than any
command, so an oversized one reaches the consumer and gets a clear error
instead of a dropped connection; anything larger still is refused by daphne.
"""

from __future__ import annotations

import argparse
import sys

from daphne.cli import CommandLineInterface

MAX_INCOMING_MESSAGE = 16 * 1024 * 1024


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    CommandLineInterface().run([
        "--bind", args.host, "--port", str(args.port),
        "--websocket-max-message-size", str(MAX_INCOMING_MESSAGE),
        "--websocket-max-frame-size", str(MAX_INCOMING_MESSAGE),
        "coordlab.asgi:application",
    ])


if __name__ == "__main__":
    main(sys.argv[1:])
