"""``manage.py kafka_produce --lab <id> --topic <t> [--key-separator :]``: publish
each line of standard input to a topic of a lab on a running server."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandParser

from kafka_app.terminal_client import DEFAULT_SERVER, TerminalError, produce


class Command(BaseCommand):
    help = ("Publish each line of standard input to a topic of a running Kafka lab, as a producer "
            "that the lab's page shows. With --key-separator, the text before the first separator "
            "is the record's key; without, the key is null.")
    requires_system_checks: list[str] = []  # it talks to a server; it needs no database or checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", required=True, help="the lab's id, as in its address /labs/<id>/")
        parser.add_argument("--topic", required=True)
        parser.add_argument("--key-separator", default=None, metavar="SEP",
                            help="split each line into key and value at the first SEP")
        parser.add_argument("--server", default=DEFAULT_SERVER, help=f"default {DEFAULT_SERVER}")

    def handle(self, *args: object, **options: object) -> None:
        separator = options["key_separator"]
        try:
            status = produce(str(options["server"]), str(options["lab"]), str(options["topic"]), sys.stdin,
                             sys.stdout, sys.stderr, separator=str(separator) if separator else None)
        except TerminalError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:
            sys.exit(130)
        if status:
            sys.exit(status)
