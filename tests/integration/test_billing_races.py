"""Two billing workers at once on the real PostgreSQL: an event id that another session's
event took between one worker's read and its insert is neither billed nor published, as a
clash seen on the read already is (chargehook.billing.plan.without_clashes)."""

import asyncio
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from chargehook.billing.store import bill_batch
from chargehook.plumbing.database import Pool
from chargehook.providers.store import rates_of
from chargehook.schemas import Envelope
from chargehook.sessions.events import SessionEvent, read_event
from tests.corpus import good

pytestmark = pytest.mark.services


def under_one_id(provider: str, session_id: str) -> SessionEvent:
    """An Idempotency-Key reused with another item: one event id, another session."""
    envelope = Envelope(
        event_id="key-1", provider=provider, received_at=datetime.now(UTC),
        session=msgspec.Raw(msgspec.json.encode(good(id=session_id))),
    )  # fmt: skip
    return read_event(msgspec.json.encode(envelope))


async def test_an_id_taken_by_another_session_in_the_race_is_left_out(pool: Pool) -> None:
    provider = f"race-{uuid.uuid4().hex[:6]}"
    first, second = under_one_id(provider, "s-first"), under_one_id(provider, "s-second")
    async with pool.acquire() as winner, pool.acquire() as loser:
        rates = await rates_of(loser, {provider})
        won = winner.transaction()
        await won.start()
        assert [m.event for m in (await bill_batch(winner, [first], rates)).made] == [first]
        async with loser.transaction():
            # the loser read before the winner committed; its insert waits on the winner's row
            billing = asyncio.create_task(bill_batch(loser, [second], rates))
            await asyncio.sleep(0.5)
            assert not billing.done()
            await won.commit()
            lost = await billing
    assert lost.carried == [] and lost.made == []
    assert lost.clashing == [second]
    bills = await pool.fetch("SELECT session_id FROM bills WHERE provider = $1", provider)
    assert [row["session_id"] for row in bills] == ["s-first"]
