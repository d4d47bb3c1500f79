"""The ledger's promise on the real PostgreSQL, for any sequence (docs/billing.md#the-ledger):
whatever events (repeats, reorders, corrections) and CDRs (with credits) come, in any batches,
the sum of a session's bills is the bill of its latest billable inputs, no stored bill ever
changes, and at most one final is uncredited."""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chargehook.billing.cdr_bills import CdrCharge, bill_cdrs
from chargehook.billing.rules import bill, cdr_lines
from chargehook.billing.store import bill_batch
from chargehook.plumbing.database import Pool
from chargehook.providers.rules import Rates
from chargehook.schemas import Envelope
from chargehook.sessions.events import SessionEvent, read_event

pytestmark = pytest.mark.services
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RATES = Rates()
NUMBERS = msgspec.json.Encoder(decimal_format="number")
PROPERTY = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass(frozen=True)
class Sent:
    """A page-shaped event: its status, price and energy; `index` names it and its updatedAt."""

    index: int
    status: str
    price: str
    energy: str


def page_event(provider: str, session_id: str, sent: Sent) -> SessionEvent:
    at = T0 + timedelta(minutes=sent.index)
    item = {
        "id": session_id, "status": sent.status, "currency": "EUR", "price_unit": "kwh",
        "plug_price": Decimal(sent.price), "charged_kwh": Decimal(sent.energy),
        "started": T0.isoformat(), "finished": at.isoformat(), "updatedAt": at.isoformat(),
    }  # fmt: skip
    envelope = Envelope(
        event_id=f"e{sent.index}", provider=provider, received_at=at,
        session=msgspec.Raw(NUMBERS.encode(item)),
    )  # fmt: skip
    return read_event(msgspec.json.encode(envelope))


events = st.builds(
    Sent,
    index=st.integers(0, 8),
    status=st.sampled_from(["FINISHED", "FINISHED", "IN_PROGRESS"]),
    price=st.sampled_from(["0.45", "0.450", "0.39"]),
    energy=st.sampled_from(["23.456", "25.000", "10"]),
)


def one_per_index(sent: list[Sent]) -> list[Sent]:
    """An index is one event: a repeat of it is the same event again."""
    first: dict[int, Sent] = {}
    return [first.setdefault(s.index, s) for s in sent]


async def ledger_rows(pool: Pool, provider: str) -> dict[int, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM bills WHERE provider = $1", provider)
    return {row["id"]: dict(row) for row in rows}


async def check_ledger(pool: Pool, provider: str, before: dict[int, dict[str, Any]]) -> None:
    """No stored bill changed, and at most one final of the session is uncredited."""
    after = await ledger_rows(pool, provider)
    assert {key: after[key] for key in before} == before
    uncredited = await pool.fetch(
        "SELECT session_id, count(*) FROM bills f WHERE f.provider = $1 AND f.kind = 'final'"
        " AND NOT EXISTS (SELECT 1 FROM bills c WHERE c.kind = 'credit' AND c.refers_to = f.id)"
        " GROUP BY session_id",
        provider,
    )
    assert all(row["count"] <= 1 for row in uncredited)


async def billed_total(pool: Pool, provider: str) -> Decimal:
    total: Decimal = await pool.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM bills"
        " WHERE provider = $1 AND kind IN ('final', 'credit')",
        provider,
    )
    return total


def in_batches(items: list[Any], cuts: list[int]) -> list[list[Any]]:
    batches, start = [], 0
    for cut in cuts:
        if start >= len(items):
            break
        batches.append(items[start : start + cut])
        start += cut
    return batches + ([items[start:]] if start < len(items) else [])


@PROPERTY
@given(
    sent=st.lists(events, min_size=1, max_size=12),
    cuts=st.lists(st.integers(1, 4), min_size=12, max_size=12),
    again=st.lists(st.integers(0, 11), max_size=4),
)
async def test_page_shaped_events_in_any_order_and_batches(
    pool: Pool, sent: list[Sent], cuts: list[int], again: list[int]
) -> None:
    """`again` names batches delivered a second time, later (a redelivery after a crash)."""
    provider = f"prop{uuid.uuid4().hex[:8]}"
    sent = one_per_index(sent)
    batches = in_batches(sent, cuts)
    redelivered = [batches[n % len(batches)] for n in again]
    before: dict[int, dict[str, Any]] = {}
    for batch in batches + redelivered:
        async with pool.acquire() as conn, conn.transaction():
            batch_events = [page_event(provider, "s", s) for s in batch]
            await bill_batch(conn, batch_events, {provider: RATES})
        await check_ledger(pool, provider, before)
        before = await ledger_rows(pool, provider)
    finals = [s for s in sent if s.status == "FINISHED"]
    expected = Decimal(0)
    if finals:
        latest = page_event(provider, "s", max(finals, key=lambda s: s.index)).session
        lines = bill(latest, RATES).lines
        assert lines is not None
        expected = lines.amount
    assert await billed_total(pool, provider) == expected


@dataclass(frozen=True)
class CdrOp:
    """A new CDR of `excl` net of VAT, or (credits set) a credit of the n-th CDR sent."""

    excl: str
    credits: int | None = None
    names_no_session: bool = False  # a credit CDR without session_id bills the credited one


cdr_ops = st.one_of(
    st.builds(CdrOp, excl=st.sampled_from(["4.00", "4.50", "0.01", "123.45"])),
    st.builds(CdrOp, excl=st.just("0"), credits=st.integers(0, 5), names_no_session=st.booleans()),
)


def charges_of(provider: str, ops: list[CdrOp]) -> list[CdrCharge]:
    sent: list[CdrCharge] = []
    normal: list[CdrCharge] = []
    for n, op in enumerate(ops):
        at = T0 + timedelta(seconds=n)
        credited = None
        if op.credits is not None:
            if not normal:
                continue
            credited = normal[op.credits % len(normal)]
        excl = -credited.excl_vat if credited else Decimal(op.excl)
        session_id = f"ES-CPO-cdr:c{n}" if op.names_no_session else "ES-CPO-s"
        charge = CdrCharge(
            provider=provider, session_id=session_id, cdr_id=f"ES-CPO-c{n}",
            credits=credited.cdr_id if credited else None, currency="EUR", excl_vat=excl,
            incl_vat=None, last_updated=at, received_at=at,
        )  # fmt: skip
        sent.append(charge)
        if credited is None:
            normal.append(charge)
    return sent


def expected_total(sent: list[CdrCharge]) -> Decimal:
    """The rules as a model, over the CDRs in the order sent: one billed once; one uncredited
    CDR at a time; a credit only of a billed, uncredited one. A refused CDR sent again later
    (after a credit) is billed then."""
    finals: dict[str, Decimal] = {}
    credited: set[str] = set()
    head: str | None = None
    for charge in sent:
        if charge.cdr_id in finals or charge.cdr_id in credited:
            continue
        if charge.credits is None and head is None:
            finals[charge.cdr_id] = cdr_lines(charge.excl_vat, "EUR", RATES).amount
            head = charge.cdr_id
        elif charge.credits in finals and charge.credits not in credited:
            credited.update((charge.credits, charge.cdr_id))
            head = None if head == charge.credits else head
    return finals[head] if head else Decimal(0)


@PROPERTY
@given(
    ops=st.lists(cdr_ops, min_size=1, max_size=10),
    cuts=st.lists(st.integers(1, 4), min_size=10, max_size=10),
    redelivered=st.booleans(),
)
async def test_cdrs_and_credits_in_any_batches(
    pool: Pool, ops: list[CdrOp], cuts: list[int], redelivered: bool
) -> None:
    provider = f"prop{uuid.uuid4().hex[:8]}"
    charges = charges_of(provider, ops)
    before: dict[int, dict[str, Any]] = {}
    batches = in_batches(charges, cuts)
    sent = batches + (batches if redelivered else [])  # all sent again, as a CPO may
    for batch in sent:
        async with pool.acquire() as conn, conn.transaction():
            await bill_cdrs(conn, batch, {provider: RATES})
        await check_ledger(pool, provider, before)
        before = await ledger_rows(pool, provider)
    assert await billed_total(pool, provider) == expected_total([c for b in sent for c in b])
