"""Command-line entry: parse, load settings, hand over to the wiring in `chargehook.root`."""

import argparse
import sys
from collections.abc import Coroutine, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import uvloop

from chargehook import commands, root
from chargehook.billing.books import parse_day
from chargehook.billing.export_format import FORMATS, BadParameter, BillFilter, bill_filter
from chargehook.ingest.openapi import openapi
from chargehook.ocpi.parties import Party, parse_party
from chargehook.plumbing.errors import ConfigError
from chargehook.plumbing.faults import is_from_a_service
from chargehook.plumbing.logs import configure_logging
from chargehook.plumbing.settings import Settings, env_name, load_settings, setting_names
from chargehook.providers.rules import PROVIDER_NAME
from chargehook.schemas import STATUSES, NewSubscription
from chargehook.schemas.bills import BILL_KINDS
from chargehook.schemas.contract import asyncapi, event_json_schema
from chargehook.schemas.subscriptions import BatchSize
from chargehook.workers import WORKERS

CONTRACT = {"json-schema": event_json_schema, "openapi": openapi, "asyncapi": asyncapi}

DEFAULT_GRACE = 86_400.0  # seconds a rotated-out provider token keeps working


def settings_flags() -> argparse.ArgumentParser:
    """One `--flag` per setting, over its CHARGEHOOK_* variable."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("settings (flags override CHARGEHOOK_* variables)")
    for name in setting_names():
        group.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            metavar="VALUE",
            default=argparse.SUPPRESS,
            help=f"overrides {env_name(name)}",
        )
    return parent


def rate(text: str) -> Decimal:
    """A rate as an exact decimal fraction, 0 to 1 (0.21 is 21 %)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not a decimal number") from None
    if not value.is_finite() or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def batch_size(text: str) -> int:
    """Sessions per webhook request, as the subscription API takes it: 1 to 500."""
    try:
        value: int = msgspec.convert(int(text), BatchSize)
    except (ValueError, msgspec.ValidationError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1 to 500") from None
    return value


def party(text: str) -> Party:
    try:
        return parse_party(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def day(text: str) -> date:
    try:
        return parse_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def grace(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--grace",
        type=float,
        default=DEFAULT_GRACE,
        metavar="SECONDS",
        help=f"how long the old tokens keep working; default {DEFAULT_GRACE:g} (24 h)",
    )


def ocpi_parser(commands: Any, flags: argparse.ArgumentParser) -> None:
    """`chargehook ocpi ...`: the CPOs that push over OCPI 2.2.1."""
    ocpi = commands.add_parser("ocpi", help="OCPI CPOs: add, list, show, tokens")
    actions = ocpi.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add", parents=[flags], help="add a CPO (or parties to one); print token A"
    )
    add.add_argument(
        "--party", action="append", dest="parties", type=party, required=True,
        metavar="CC-PID", help="a party it may push for, e.g. ES-ABC; repeat for more",
    )  # fmt: skip
    actions.add_parser("list", parents=[flags], help="every CPO")
    helps = {
        "show": "one CPO: parties, state, endpoints, last push and error",
        "rotate": "print a new token C; the old ones keep working for the grace",
        "revoke": "stop every token of the CPO now; its state stays",
        "token-a": "print a fresh token A, to register again after unregistering",
    }
    for command in [
        add,
        *(actions.add_parser(a, parents=[flags], help=h) for a, h in helps.items()),
    ]:
        command.add_argument("name", help="lower case, e.g. acme-cpo")
    grace(actions.choices["rotate"])


def bills_parser(commands: Any, flags: argparse.ArgumentParser) -> None:
    """`chargehook bills ...`: the bills ledger, one action per sub-command (each added here
    and run by `bills_command`)."""
    bills = commands.add_parser("bills", help="the bills ledger: reconcile a day, export")
    actions = bills.add_subparsers(dest="action", required=True)
    reconcile = actions.add_parser(
        "reconcile",
        parents=[flags],
        help="a UTC day's finals and credits per provider, beside the providers' own figures",
    )
    reconcile.add_argument(
        "--day", type=day, required=True, metavar="YYYY-MM-DD", help="the UTC day of billed_at"
    )
    reconcile.add_argument("--provider", help="one provider or CPO; default every provider")
    reconcile.add_argument("--format", choices=("table", "json"), default="table")
    export = actions.add_parser(
        "export", parents=[flags], help="every bill of a period to stdout, as CSV or JSON lines"
    )
    period(export)
    export.add_argument("--provider", help="only this provider's bills")
    export.add_argument("--kind", choices=BILL_KINDS, help="only bills of this kind")
    export.add_argument("--format", choices=FORMATS, default="csv", help="default csv")


def period(command: argparse.ArgumentParser) -> None:
    """--since and --until: the bills billed in [since, until)."""
    moment = "ISO 8601: a date-time with an offset (2026-03-01T00:00:00+01:00) or a date, "
    moment += "its midnight UTC (2026-03-01)"
    command.add_argument(
        "--since", required=True, metavar="T", help="billed at or after; " + moment
    )
    command.add_argument("--until", required=True, metavar="T", help="billed before; " + moment)


def build_parser() -> argparse.ArgumentParser:
    flags = settings_flags()
    parser = argparse.ArgumentParser(prog="chargehook", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", parents=[flags], help="ingest and every worker in one process")
    commands.add_parser("ingest", parents=[flags], help="the HTTP API alone")
    worker = commands.add_parser("worker", parents=[flags], help="one worker kind")
    worker.add_argument("kind", choices=sorted(WORKERS))
    commands.add_parser("migrate", parents=[flags], help="apply pending database migrations")
    commands.add_parser("topology", parents=[flags], help="declare exchanges and queues")
    provider = commands.add_parser("provider", help="manage providers")
    provider_commands = provider.add_subparsers(dest="action", required=True)
    add = provider_commands.add_parser("add", parents=[flags], help="register; print a token")
    rates = provider_commands.add_parser("rates", parents=[flags], help="change a provider's rates")
    for command in (add, rates):
        command.add_argument("name", help="lower case, e.g. repsol")
        command.add_argument("--commission-rate", type=rate, help="0 to 1; default 0.10")
        command.add_argument("--tax-rate", type=rate, help="0 to 1; default 0.21")
    revoke = provider_commands.add_parser("revoke", parents=[flags], help="stop every token now")
    rotate = provider_commands.add_parser("rotate", parents=[flags], help="print a new token")
    for command in (revoke, rotate):
        command.add_argument("name", help="a registered provider")
    grace(rotate)
    ocpi_parser(commands, flags)
    bills_parser(commands, flags)
    subscription = commands.add_parser("subscription", help="manage subscriptions")
    subscription_commands = subscription.add_subparsers(dest="action", required=True)
    subscribe = subscription_commands.add_parser("add", parents=[flags], help="subscribe a URL")
    subscribe.add_argument("url")
    subscribe.add_argument("--status", action="append", dest="statuses", choices=STATUSES)
    subscribe.add_argument("--provider", action="append", dest="providers")
    subscribe.add_argument("--description")
    subscribe.add_argument(
        "--batch-size",
        type=batch_size,
        metavar="N",
        help="sessions per webhook request, 1 to 500; default CHARGEHOOK_DELIVERY_BATCH_SIZE",
    )
    test = subscription_commands.add_parser(
        "test", parents=[flags], help="send a signed example event; print the answer"
    )
    test.add_argument("id", help="the subscription's id")
    commands.add_parser(
        "status", parents=[flags], help="queues, dead letters and subscriptions at a glance"
    )
    dead = commands.add_parser("dead", help="the dead-letter queues: list, replay, drop")
    dead_commands = dead.add_subparsers(dest="action", required=True)
    listing = dead_commands.add_parser("list", parents=[flags], help="show; nothing moves")
    listing.add_argument("queue", nargs="?", help="persist, billing, notify or deliveries")
    for action, text in (("replay", "put back on their queue"), ("drop", "remove for good")):
        settling = dead_commands.add_parser(action, parents=[flags], help=text)
        settling.add_argument("queue", help="persist, billing, notify or deliveries")
        chosen = settling.add_mutually_exclusive_group(required=True)
        chosen.add_argument("--id", action="append", dest="ids", metavar="MESSAGE_ID")
        chosen.add_argument("--all", action="store_true")
    dead_commands.choices["drop"].add_argument(
        "--yes", action="store_true", help="confirm: dropped messages are gone"
    )
    contract = commands.add_parser("contract", help="print the machine-readable contract")
    contract.add_argument("document", choices=sorted(CONTRACT))
    return parser


def command_for(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, None]:
    match args.command:
        case "run":
            return root.run_all(settings)
        case "ingest":
            return root.run_ingest(settings)
        case "worker":
            return root.run_worker(settings, args.kind)
        case "migrate":
            return root.run_migrate(settings)
        case "topology":
            return root.run_topology(settings)
        case "provider":
            if not PROVIDER_NAME.match(args.name):
                raise ConfigError(f"provider name {args.name!r}: use a-z, 0-9, '-' and '_'")
            if args.action == "revoke":
                return commands.run_provider_revoke(settings, args.name)
            if args.action == "rotate":
                return commands.run_provider_rotate(settings, args.name, args.grace)
            change = (
                commands.run_provider_add if args.action == "add" else commands.run_provider_rates
            )
            return change(settings, args.name, args.commission_rate, args.tax_rate)
        case "ocpi":
            return ocpi_command(args, settings)
        case "bills":
            return bills_command(args, settings)
        case "status":
            root.require_services(settings, "status")
            return commands.run_status(settings)
        case "dead":
            if args.action == "drop" and not args.yes:
                raise ConfigError("dead drop removes messages for good: add --yes to confirm")
            ids = None if getattr(args, "all", True) else args.ids
            return commands.run_dead(settings, args.action, args.queue, ids)
        case "subscription" if args.action == "test":
            return commands.run_subscription_test(settings, args.id)
        case "subscription":
            new = NewSubscription(
                url=args.url,
                statuses=args.statuses,
                providers=args.providers,
                description=args.description,
                batch_size=args.batch_size,
            )
            return commands.run_subscription_add(settings, new)
    raise ConfigError(f"unknown command {args.command}")


def ocpi_command(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, None]:
    if args.action == "list":
        return commands.run_ocpi_list(settings)
    if not PROVIDER_NAME.match(args.name):
        raise ConfigError(f"CPO name {args.name!r}: use a-z, 0-9, '-' and '_'")
    match args.action:
        case "add":
            return commands.run_ocpi_add(settings, args.name, set(args.parties))
        case "show":
            return commands.run_ocpi_show(settings, args.name)
        case "rotate":
            return commands.run_ocpi_rotate(settings, args.name, args.grace)
        case "revoke":
            return commands.run_ocpi_revoke(settings, args.name)
    return commands.run_ocpi_token_a(settings, args.name)


def bills_command(args: argparse.Namespace, settings: Settings) -> Coroutine[Any, Any, None]:
    if args.provider is not None and not PROVIDER_NAME.fullmatch(args.provider):
        raise ConfigError(f"provider name {args.provider!r}: use a-z, 0-9, '-' and '_'")
    match args.action:
        case "reconcile":
            as_json = args.format == "json"
            return commands.run_bills_reconcile(settings, args.day, args.provider, as_json)
        case "export":
            return commands.run_bills_export(settings, export_filter(args), args.format)
    raise ConfigError(f"unknown command bills {args.action}")


def export_filter(args: argparse.Namespace) -> BillFilter:
    try:
        return bill_filter(args.since, args.until, args.provider, args.kind)
    except BadParameter as exc:
        raise ConfigError(f"--{exc.name}: {exc.reason}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "contract":
        print(msgspec.json.format(msgspec.json.encode(CONTRACT[args.document]()).decode()))
        return 0
    overrides = {name: value for name in setting_names() if (value := getattr(args, name, None))}
    try:
        settings = load_settings(overrides=overrides)
        configure_logging(settings)
        uvloop.run(command_for(args, settings))
    except ConfigError as exc:
        print(f"chargehook: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        if not is_from_a_service(exc):
            raise
        print(f"chargehook: a service is unreachable: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
