"""A stored bill never changes: PostgreSQL itself refuses to update, delete or truncate one."""

import uuid

import asyncpg
import pytest

from chargehook.plumbing.database import Pool
from chargehook.plumbing.faults import is_infrastructure

pytestmark = pytest.mark.services

INSERT = """
INSERT INTO bills (provider, session_id, event_id, status, kind, currency, price_unit, quantity,
                   base, access_fee, subtotal, commission, tax, amount, commission_rate,
                   tax_rate, updated_at, received_at)
VALUES ($1, 's-1', $2, 'FINISHED', 'final', 'EUR', 'session', 1, 1.25, 0.00, 1.25, 0.13, 0.29,
        1.67, 0.10, 0.21, now(), now())
RETURNING id
"""


@pytest.fixture
async def bill(pool: Pool) -> int:
    bill_id: int = await pool.fetchval(INSERT, f"p{uuid.uuid4().hex[:8]}", "evt-1")
    return bill_id


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE bills SET amount = 0 WHERE id = $1",
        "UPDATE bills SET kind = 'estimate' WHERE id = $1",
        "DELETE FROM bills WHERE id = $1",
    ],
)
async def test_a_stored_bill_cannot_be_changed_or_removed(
    pool: Pool, bill: int, statement: str
) -> None:
    with pytest.raises(asyncpg.RestrictViolationError, match="bills are immutable") as refused:
        await pool.execute(statement, bill)
    assert not is_infrastructure(refused.value)  # a bug to fix, never a fault to retry
    amount = await pool.fetchval("SELECT amount FROM bills WHERE id = $1", bill)
    assert str(amount) == "1.67"


async def test_bills_cannot_be_truncated(pool: Pool, bill: int) -> None:
    with pytest.raises(asyncpg.RestrictViolationError, match="TRUNCATE on bills refused"):
        await pool.execute("TRUNCATE bills")
    assert await pool.fetchval("SELECT count(*) FROM bills WHERE id = $1", bill) == 1
