"""Every 200 is storable: items ingest accepts, generated near every bound of docs/api.md#bounds,
go through the persist and billing workers' own code on the real PostgreSQL without a fault.

A fault here is what would dead-letter an accepted event in production; the test fails on it.
"""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chargehook.metrics_catalog import every_metric
from chargehook.plumbing.broker import OutboundMessage
from chargehook.plumbing.database import Pool
from chargehook.schemas import STATUSES
from chargehook.schemas.session import EARLIEST, LATEST, MAX_AMOUNT, MAX_DECIMALS
from chargehook.sessions.events import event_headers, read_event
from chargehook.sessions.intake import BadInput, envelope, envelope_encoder, split_body, validate
from chargehook.workers.billing import BillingWorker
from chargehook.workers.persist import PersistWorker
from tests.support import RecordingBroker

pytestmark = pytest.mark.services
PROVIDER = "storable"
encoder = msgspec.json.Encoder(decimal_format="number")

# text as a provider might send it: any character but control characters and lone surrogates
printable = st.characters(blacklist_categories=("Cc", "Cs"))
money = st.one_of(
    *[
        st.decimals(min_value=0, max_value=MAX_AMOUNT, places=places, allow_nan=False)
        for places in range(MAX_DECIMALS + 1)
    ]
) | st.sampled_from([Decimal(0), MAX_AMOUNT, Decimal("1e-9"), Decimal("999999.999999999")])
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
times = st.builds(
    lambda at, zone: at.astimezone(zone).isoformat(),
    st.datetimes(
        min_value=EARLIEST.replace(tzinfo=None),
        max_value=(LATEST - timedelta(microseconds=1)).replace(tzinfo=None),
        timezones=st.just(UTC),
    ),
    offsets,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


items = st.fixed_dictionaries(
    {
        "id": st.text(printable, min_size=1, max_size=255),
        "status": st.sampled_from(STATUSES),
    },
    optional={
        "amount": maybe(money),
        "commision_price": maybe(money),
        "tax_price": maybe(money),
        "plug_price": maybe(money),
        "charged_kwh": maybe(money),
        "price_unit": maybe(st.sampled_from(["kwh", "minute", "hour", "session", "free"])),
        "currency": maybe(
            st.sampled_from(["EUR", "JPY", "BHD", "string"]) | st.text(printable, max_size=16)
        ),
        "started": maybe(times),
        "finished": maybe(times),
        "updatedAt": maybe(times),
        "createdAt": maybe(times),
        "charger": st.fixed_dictionaries(
            {},
            optional={
                "chargerDetails": st.lists(
                    st.fixed_dictionaries({}, optional={"accessPrice": maybe(money)}), max_size=2
                ),
                "createdAt": maybe(times),
            },
        ),
        "physicalPlugs": st.fixed_dictionaries({}, optional={"price": maybe(money)}),
        "note": st.text(printable, max_size=50),  # an unknown field, kept verbatim
    },
)


def accepted(body: bytes) -> OutboundMessage:
    """What ingest publishes for this body, or the test is skipped as not accepted."""
    try:
        raws, is_array = split_body(body)
        (item,) = validate(raws, is_array)
        env = envelope(PROVIDER, item, datetime.now(UTC), None)
    except BadInput:
        assume(False)
        raise  # unreachable: assume(False) stops this example
    headers = event_headers(item.session.status, PROVIDER)
    return OutboundMessage(envelope_encoder.encode(env), env.event_id, headers)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(items, min_size=1, max_size=5))
async def test_every_accepted_item_is_stored_and_billed(pool: Pool, batch: list[Any]) -> None:
    """persist and billing handle the batch without a fault (a fault is a dead letter), and
    every event is in the history; billing publishes the figures it stored."""
    messages = [accepted(encoder.encode(item)) for item in batch]
    events = [read_event(message.body) for message in messages]  # the workers' decode
    await PersistWorker(pool, prefetch=1, batch_size=len(events)).handle(events)
    broker = RecordingBroker()
    await BillingWorker(pool, broker, every_metric(), prefetch=1, batch_size=len(events)).handle(
        events
    )
    published = [message for _, _, message in broker.published]
    stored = await pool.fetchval(
        "SELECT count(*) FROM session_events WHERE provider = $1 AND event_id = ANY($2::text[])",
        PROVIDER,
        list({event.event_id for event in events}),
    )
    assert stored == len({event.event_id for event in events})
    assert [m.message_id for m in published] == [e.event_id for e in events]
