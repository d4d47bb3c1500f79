"""The operator's one-shot commands: providers and their tokens, subscriptions, dead letters,
the bills' reconciliation and export. Each opens what it needs (chargehook.root's openers), does
one thing and prints what it did."""

import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing, asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import msgspec

from chargehook.billing import reconciling
from chargehook.billing.books import Reconciliation
from chargehook.billing.export import export_bills
from chargehook.billing.export_format import BillFilter, ExportFormat
from chargehook.dead_letters import actions as dead_letters
from chargehook.ocpi import cpos, registering
from chargehook.ocpi.parties import Party
from chargehook.plumbing.amqp import amqp_broker
from chargehook.plumbing.errors import ConfigError
from chargehook.plumbing.settings import Settings
from chargehook.providers.store import add_provider, revoke_tokens, rotate_token, set_rates
from chargehook.root import open_database
from chargehook.schemas import NewSubscription
from chargehook.schemas.ocpi_cpos import Cpo
from chargehook.webhooks import subscribing, subscriptions, test_sends
from chargehook.webhooks.ssrf import UnsafeUrl
from chargehook.workers import ALL_QUEUES, delay_queues


async def run_provider_add(
    settings: Settings, name: str, commission_rate: Decimal | None, tax_rate: Decimal | None
) -> None:
    async with open_database(settings) as pool:
        token = await add_provider(pool, name, commission_rate, tax_rate)
    print(f"provider {name} registered; its token (shown once, stored only as a hash):\n{token}")


async def run_provider_rates(
    settings: Settings, name: str, commission_rate: Decimal | None, tax_rate: Decimal | None
) -> None:
    async with open_database(settings) as pool:
        if not await set_rates(pool, name, commission_rate, tax_rate):
            raise ConfigError(f"no provider {name!r}; register it with `chargehook provider add`")
    print(f"provider {name}: rates changed; bills already made keep theirs")


async def run_provider_revoke(settings: Settings, name: str) -> None:
    async with open_database(settings) as pool:
        revoked = await revoke_tokens(pool, name)
    print(f"provider {name}: {revoked} token(s) revoked; running ingest stops taking them now")


async def run_provider_rotate(settings: Settings, name: str, grace: float) -> None:
    async with open_database(settings) as pool:
        token = await rotate_token(pool, name, timedelta(seconds=grace))
    if token is None:
        raise ConfigError(f"no provider {name!r}; register it with `chargehook provider add`")
    print(f"provider {name}: its old token(s) keep working for {grace:g} s; the new token")
    print(f"(shown once, stored only as a hash):\n{token}")


async def run_ocpi_add(settings: Settings, name: str, parties: set[Party]) -> None:
    async with open_database(settings) as pool, cpo_change_refused():
        token = await registering.add_cpo(pool, name, parties)
    print_token_a(settings, name, token)


async def run_ocpi_token_a(settings: Settings, name: str) -> None:
    async with open_database(settings) as pool, cpo_change_refused():
        token = await registering.issue_token_a(pool, name)
    print_token_a(settings, name, token)


def print_token_a(settings: Settings, name: str, token: str) -> None:
    print(
        f"CPO {name}: give it, out of band, our versions URL and its token A (shown once,"
        f" stored only as a hash):\n  versions URL: {registering.versions_url(settings.base_url)}"
        f"\n  token A: {token}"
    )


async def run_ocpi_list(settings: Settings) -> None:
    async with open_database(settings) as pool:
        found = await cpos.list_cpos(pool)
    print_cpos(found)


async def run_ocpi_show(settings: Settings, name: str) -> None:
    async with open_database(settings) as pool:
        cpo = await cpos.read_cpo(pool, name)
    if cpo is None:
        raise ConfigError(f"no CPO {name!r}; add it with `chargehook ocpi add`")
    state, error = cpos.STATE_NAMES[cpo.state], last_error(cpo)
    print(f"CPO {cpo.name}: {state}; parties {', '.join(cpo.parties) or 'none'}")
    print(f"  its versions URL: {cpo.versions_url or '-'} (version {cpo.version or '-'})")
    print(f"  added {stamp(cpo.created_at)}, registered {stamp(cpo.registered_at)}")
    print(f"  last push {stamp(cpo.last_push_at)}; last error {error}")
    print(f"  its endpoints ({len(cpo.endpoints)}):")
    for endpoint in cpo.endpoints:
        print(f"    {endpoint.identifier:<16} {endpoint.role:<8} {endpoint.url}")


async def run_ocpi_rotate(settings: Settings, name: str, grace: float) -> None:
    async with open_database(settings) as pool, cpo_change_refused():
        token = await registering.rotate_token_c(pool, name, timedelta(seconds=grace))
    print(f"CPO {name}: its old token C keeps working for {grace:g} s; its new token C")
    print(f"(shown once, stored only as a hash; give it to the CPO out of band):\n{token}")


async def run_ocpi_revoke(settings: Settings, name: str) -> None:
    async with open_database(settings) as pool, cpo_change_refused():
        revoked = await registering.revoke(pool, name)
    print(
        f"CPO {name}: {revoked} token(s) revoked; its state stays as it was (a registered CPO"
        " gets a new token C from `chargehook ocpi rotate`)"
    )


@asynccontextmanager
async def cpo_change_refused() -> AsyncIterator[None]:
    """A CPO that is not there, or whose state or parties forbid the change, in one line."""
    try:
        yield
    except cpos.UnknownCpo as exc:
        raise ConfigError(f"no CPO {exc}; add it with `chargehook ocpi add`") from None
    except cpos.CpoConflict as exc:
        raise ConfigError(str(exc)) from None


def print_cpos(found: list[Cpo]) -> None:
    print(f"{'CPO':<24} {'state':<15} {'endpoints':>9} {'last push':<17} {'parties'}")
    for cpo in found:
        print(f"{cpo.name:<24} {cpo.state:<15} {len(cpo.endpoints):>9} "
              f"{stamp(cpo.last_push_at):<17} {', '.join(cpo.parties)}")  # fmt: skip
        if cpo.last_error:
            print(f"{'':<24} last error {last_error(cpo)}")


def last_error(cpo: Cpo) -> str:
    return f"{stamp(cpo.last_error_at)}: {cpo.last_error}" if cpo.last_error else "none"


def stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "never"


async def run_subscription_add(settings: Settings, new: NewSubscription) -> None:
    async with open_database(settings) as pool:
        try:
            created = await subscribing.subscribe(pool, new, settings.allow_private_urls)
        except UnsafeUrl as exc:
            raise ConfigError(exc.reason) from None
    print(
        f"subscription {created.id} created for {created.url}\n"
        f"its signing secret (shown once):\n{created.secret}"
    )


async def run_subscription_test(settings: Settings, subscription_id: str) -> None:
    async with open_database(settings) as pool:
        answered = await test_sends.send_test(pool, subscription_id, settings.allow_private_urls)
    if answered is None:
        raise ConfigError(f"no subscription {subscription_id!r}")
    outcome = "succeeded" if answered.succeeded else f"failed ({answered.error_kind})"
    print(
        f"test event {answered.webhook_id} {outcome}: status {answered.status_code},"
        f" {answered.latency_ms} ms\n{answered.snippet or ''}".rstrip()
    )
    if not answered.succeeded:
        raise SystemExit(1)


async def run_dead(
    settings: Settings, action: str, queue_name: str | None, ids: list[str] | None
) -> None:
    """`chargehook dead list|replay|drop` on RabbitMQ (the in-process broker lives inside
    `chargehook run`: use its admin API there)."""
    if settings.amqp_url is None:
        raise ConfigError("dead letters live in RabbitMQ: set CHARGEHOOK_AMQP_URL")
    names = [queue_name] if queue_name else [queue.name for queue in ALL_QUEUES]
    queues = [dead_letters.queue_named(name, ALL_QUEUES) for name in names]
    if None in queues:
        known = ", ".join(queue.name for queue in ALL_QUEUES)
        raise ConfigError(f"no work queue {queue_name!r}; the queues are {known}")
    async with amqp_broker(settings.amqp_url, "chargehook dead", settings.publish_timeout) as mq:
        for queue in filter(None, queues):
            if action == "list":
                for letter in await dead_letters.list_dead(mq, queue):
                    print(f"{queue.dead_letter_queue}  {letter.message_id}  {letter.dead_at or '-'}"
                          f"  {letter.reason}")  # fmt: skip
            else:
                settle = dead_letters.replay_dead if action == "replay" else dead_letters.drop_dead
                done = "put back on " + queue.name if action == "replay" else "dropped"
                print(f"{queue.dead_letter_queue}: {await settle(mq, queue, ids)} {done}")


async def run_status(settings: Settings) -> None:
    """Queue depths and consumers, dead letters and each subscription's health, one screen."""
    assert settings.amqp_url is not None
    delays = [delay.name for delay in delay_queues(settings)]
    names = [q.name for q in ALL_QUEUES] + [q.dead_letter_queue for q in ALL_QUEUES] + delays
    async with (
        amqp_broker(settings.amqp_url, "chargehook status", settings.publish_timeout) as mq,
        open_database(settings) as pool,
    ):
        counts = await mq.counts(names)
        healths = await subscriptions.health(pool, timedelta(seconds=settings.disable_after))
        found = await cpos.list_cpos(pool)
    print(f"{'queue':<40} {'ready':>8} {'consumers':>9}")
    for name, count in counts.items():
        if name in delays and not (count and count[0]):
            continue  # an empty delay queue says nothing
        shown = "missing" if count is None else f"{count[0]:>8} {count[1]:>9}"
        print(f"{name:<40} {shown}")
    print(f"\n{'subscription':<28} {'state':<8} {'last success':<17} {'failed 1h':>9} "
          f"{'pending':>7}  auto-disable in")  # fmt: skip
    now = datetime.now(UTC)
    for h in healths:
        state = "enabled" if h.enabled else "disabled"
        print(f"{h.id:<28} {state:<8} {stamp(h.last_success_at):<17} {h.failures_last_hour:>9}"
              f" {h.pending:>7}  {countdown(h.disables_at, now)}")  # fmt: skip
    if found:
        print()
        print_cpos(found)


def countdown(disables_at: datetime | None, now: datetime) -> str:
    if disables_at is None:
        return "-"
    left = disables_at - now
    return str(left).split(".")[0] if left > timedelta() else "due"


async def run_bills_reconcile(
    settings: Settings, day: date, provider: str | None, as_json: bool
) -> None:
    """A UTC day's finals and credits per provider (docs/billing.md#reconciliation)."""
    async with open_database(settings) as pool:
        report = await reconciling.reconcile(pool, day, provider)
    if as_json:
        print(msgspec.json.format(JSON.encode(report).decode()))
    else:
        print_reconciliation(report)


JSON = msgspec.json.Encoder(decimal_format="number")  # as the API answers it
Row = Sequence[object]


def print_reconciliation(report: Reconciliation) -> None:
    mismatches = sum(len(p.mismatches) for p in report.providers)
    who = f"provider {report.provider}" if report.provider else "every provider"
    print(f"reconciliation of {report.day} (UTC, by billed_at), {who}: finals and credits of "
          f"{len(report.providers)} provider(s), {mismatches} mismatch(es)")  # fmt: skip
    if not report.providers:
        print("no final nor credit was billed that day")
        return
    print_table("", BOOKS, books_rows(report))
    print_table("the providers' own figures, over the bills that sent each", FIGURES,
                figure_rows(report))  # fmt: skip
    print_table("mismatches: a figure more than 0.01 from ours", MISMATCHES,
                mismatch_rows(report))  # fmt: skip


BOOKS = ("provider", "currency", "kind", "bills", "amount", "commission", "tax")
FIGURES = ("provider", "currency", "figure", "bills", "theirs", "ours", "difference")
MISMATCHES = ("provider", "bill", "session", "kind", "currency", "figure", "theirs", "ours",
              "difference")  # fmt: skip


def books_rows(report: Reconciliation) -> list[Row]:
    """Each provider's finals, credits and net, per currency."""
    return [
        (p.provider, c.currency, kind, bills, sums.amount, sums.commission, sums.tax)
        for p in report.providers
        for c in p.currencies
        for kind, bills, sums in (
            ("finals", c.finals, c.finals_sum),
            ("credits", c.credits, c.credits_sum),
            ("net", c.finals + c.credits, c.net),
        )
    ]


def figure_rows(report: Reconciliation) -> list[Row]:
    return [
        (p.provider, c.currency, f.figure, f.bills, f.theirs, f.ours, f.difference)
        for p in report.providers
        for c in p.currencies
        for f in c.provider_figures
    ]


def mismatch_rows(report: Reconciliation) -> list[Row]:
    return [
        (p.provider, m.bill_id, m.session_id, m.kind, m.currency, m.figure, m.theirs, m.ours,
         m.difference)
        for p in report.providers
        for m in p.mismatches
    ]  # fmt: skip


def print_table(title: str, headings: Row, rows: Sequence[Row]) -> None:
    """Columns as wide as their widest cell; numbers to the right."""
    print(f"\n{title}" if title else "")
    if not rows:
        print("none")
        return
    cells = [[str(h) for h in headings], *([str(v) for v in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headings))]
    right = [isinstance(value, int | Decimal) for value in rows[0]]
    for row in cells:
        aligned = (
            c.rjust(w) if r else c.ljust(w) for c, w, r in zip(row, widths, right, strict=True)
        )
        print("  ".join(aligned).rstrip())


async def run_bills_export(settings: Settings, chosen: BillFilter, fmt: ExportFormat) -> None:
    """The bills on stdout as they are read, a page at a time; logs go to stderr."""
    out = sys.stdout.buffer
    try:
        async with (
            open_database(settings) as pool,
            aclosing(export_bills(pool, chosen, fmt)) as lines,
        ):
            async for chunk in lines:
                out.write(chunk)
        out.flush()
    except BrokenPipeError:
        # the reader stopped early (`| head`): stop as Unix tools do, without a traceback, and
        # without another failing flush of stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
