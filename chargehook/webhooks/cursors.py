"""The delivery_cursors table: each subscriber's place per session (the newest position sent
there) and a short lease, so one request at a time carries a session to a subscriber and an
older state never follows a newer one (docs/delivery.md#order-per-session)."""

from collections.abc import Sequence
from dataclasses import dataclass, field

from chargehook.plumbing.database import Connection
from chargehook.sessions.order import SessionRef
from chargehook.webhooks import delivery_states
from chargehook.webhooks.deliveries import Pending

# A request holds its sessions' leases at most this long: longer than one attempt.
LEASE = "30 seconds"

OPEN = """
INSERT INTO delivery_cursors (subscription_id, provider, session_id)
SELECT $1, * FROM unnest($2::text[], $3::text[])
ON CONFLICT DO NOTHING
"""
HELD = """
SELECT provider, session_id, sent_position, coalesce(lease_until > now(), false) AS leased
FROM delivery_cursors
WHERE subscription_id = $1
    AND (provider, session_id) IN (SELECT * FROM unnest($2::text[], $3::text[]))
ORDER BY provider, session_id
FOR UPDATE
"""
# The lease is taken with the newest position going as the place already sent: were the
# request to reach the receiver and its record then be lost (the worker killed, its database
# connection broken), an older state still could never follow it.
LEASE_SQL = f"""
UPDATE delivery_cursors c SET lease_delivery = $2, lease_until = now() + interval '{LEASE}',
    sent_position = GREATEST(c.sent_position, t.position)
FROM unnest($3::text[], $4::text[], $5::text[]) AS t(provider, session_id, position)
WHERE c.subscription_id = $1 AND c.provider = t.provider AND c.session_id = t.session_id
"""


@dataclass
class Claimed:
    """A batch sorted by delivery_states.decide_claim: what goes now, waits, or will never go."""

    go: list[Pending] = field(default_factory=list)
    busy: list[Pending] = field(default_factory=list)
    superseded: list[Pending] = field(default_factory=list)


async def take_leases(conn: Connection, batch: Sequence[Pending], holder: str) -> Claimed:
    """Take the lease of every session the batch may carry now; call inside a transaction."""
    claimed = Claimed()
    if not batch:
        return claimed
    subscription = batch[0].subscription_id
    providers, sessions = _sessions(batch)
    await conn.execute(OPEN, subscription, providers, sessions)
    rows = await conn.fetch(HELD, subscription, providers, sessions)
    held = {(r["provider"], r["session_id"]): (r["sent_position"], r["leased"]) for r in rows}
    for delivery in batch:
        sent, leased = held[(delivery.provider, delivery.session_id)]
        decision = delivery_states.decide_claim(sent, leased, delivery.position)
        getattr(claimed, decision).append(delivery)
    if claimed.go:
        await conn.execute(LEASE_SQL, subscription, holder, *newest(claimed.go))
    return claimed


def newest(batch: Sequence[Pending]) -> tuple[list[str], list[str], list[str]]:
    """Each session of the batch with the newest position it carries, as three columns."""
    greatest: dict[SessionRef, str] = {}
    for delivery in batch:
        ref = (delivery.provider, delivery.session_id)
        greatest[ref] = max(greatest.get(ref, delivery.position), delivery.position)
    refs = sorted(greatest)
    return [p for p, _ in refs], [s for _, s in refs], [greatest[ref] for ref in refs]


def _sessions(batch: Sequence[Pending]) -> tuple[list[str], list[str]]:
    refs = sorted({(d.provider, d.session_id) for d in batch})  # sorted: locks in one order
    return [provider for provider, _ in refs], [session for _, session in refs]
