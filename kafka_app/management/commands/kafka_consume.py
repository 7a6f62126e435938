"""``manage.py kafka_consume --lab <id> --topic <t> --group <g>``: join a consumer
group of a lab on a running server and print each record it gets, until Ctrl-C
(which leaves the group cleanly)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandParser

from kafka_app.terminal_client import DEFAULT_SERVER, TerminalError, consume, stop_on_signals


class Command(BaseCommand):
    help = ("Join a consumer group of a running Kafka lab as a new member (the lab's page shows it, "
            "rebalances include it) and print each record as topic-partition@offset key=… value=…. "
            "Ctrl-C commits, leaves the group and exits.")
    requires_system_checks: list[str] = []  # it talks to a server; it needs no database or checks

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--lab", required=True, help="the lab's id, as in its address /labs/<id>/")
        parser.add_argument("--topic", required=True)
        parser.add_argument("--group", required=True, help="the consumer group to join")
        parser.add_argument("--from-beginning", action="store_true",
                            help="a group without committed offsets starts at the start of the log "
                                 "(else at its end, as kafka-console-consumer does)")
        parser.add_argument("--server", default=DEFAULT_SERVER, help=f"default {DEFAULT_SERVER}")

    def handle(self, *args: object, **options: object) -> None:
        try:
            with stop_on_signals() as stop:
                status = consume(str(options["server"]), str(options["lab"]), str(options["topic"]),
                                 str(options["group"]), sys.stdout, sys.stderr, stop,
                                 bool(options["from_beginning"]))
        except TerminalError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)
        except KeyboardInterrupt:  # a second Ctrl-C: gone without a goodbye (the lab notices in time)
            sys.exit(130)
        if status:
            sys.exit(status)
