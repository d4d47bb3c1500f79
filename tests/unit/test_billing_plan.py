"""A batch is billed as if its events were billed one by one, in order (billing.plan)."""

from datetime import UTC, datetime
from typing import Literal

import msgspec
import pytest

from chargehook.billing.plan import Made, plan, without_clashes
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing, Envelope
from chargehook.sessions.events import SessionEvent, read_event

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RATES = {"p": Rates()}


def event(event_id: str, status: str, session: str = "s1") -> SessionEvent:
    item = {
        "id": session,
        "status": status,
        "currency": "EUR",
        "price_unit": "session",
        "plug_price": 2,
        "started": "2026-03-01T10:00:00Z",
        "finished": "2026-03-01T10:30:00Z",
        "updatedAt": "2026-03-01T10:30:00Z",
    }
    envelope = Envelope(
        event_id=event_id,
        provider="p",
        received_at=AT,
        session=msgspec.Raw(msgspec.json.encode(item)),
    )
    return read_event(msgspec.json.encode(envelope))


def stored(kind: Literal["final", "estimate"], event_id: str) -> Billing:
    zero = None
    return Billing(
        kind=kind, event_id=event_id, currency="EUR", price_unit="session", quantity=zero,
        base=zero, access_fee=zero, subtotal=zero, commission=zero, tax=zero, amount=zero,
        commission_rate=Rates().commission, tax_rate=Rates().tax,
    )  # fmt: skip


def carried_by(item: Billing | Made) -> str:
    """Which event's bill an event carries, and whether it is new."""
    if isinstance(item, Made):
        return f"new {item.bill.kind} of {item.event.event_id}"
    return f"stored {item.kind} of {item.event_id}"


@pytest.mark.parametrize(
    ("batch", "finals", "own", "expected"),
    [
        pytest.param(
            [event("e1", "IN_PROGRESS"), event("e2", "FINISHED")], {}, {},
            ["new estimate of e1", "new final of e2"], id="each-event-its-own-bill",
        ),
        pytest.param(
            [event("e2", "FINISHED"), event("e3", "IN_PROGRESS")], {}, {},
            ["new final of e2", "new final of e2"], id="a-late-event-carries-the-new-final",
        ),
        pytest.param(
            [event("e2", "FINISHED"), event("e4", "FINISHED")], {}, {},
            ["new final of e2", "new final of e2"], id="a-second-finished-bills-nothing",
        ),
        pytest.param(
            [event("e1", "IN_PROGRESS"), event("e1", "IN_PROGRESS")], {}, {},
            ["new estimate of e1", "new estimate of e1"], id="a-repeat-in-the-batch",
        ),
        pytest.param(
            [event("e3", "IN_PROGRESS")], {("p", "s1"): stored("final", "e2")}, {},
            ["stored final of e2"], id="a-stored-final-wins",
        ),
        pytest.param(
            [event("e1", "IN_PROGRESS")], {}, {("p", "e1"): stored("estimate", "e1")},
            ["stored estimate of e1"], id="a-redelivery-carries-its-own-bill",
        ),
        pytest.param(
            [event("e1", "FINISHED", "s1"), event("e2", "FINISHED", "s2")], {}, {},
            ["new final of e1", "new final of e2"], id="sessions-apart",
        ),
    ],
)  # fmt: skip
def test_a_batch_is_billed_as_one_by_one(
    batch: list[SessionEvent],
    finals: dict[tuple[str, str], Billing],
    own: dict[tuple[str, str], Billing],
    expected: list[str],
) -> None:
    assert [carried_by(item) for item in plan(batch, finals, own, RATES)] == expected


def test_a_new_bill_is_made_once_however_often_it_is_carried() -> None:
    carried = plan([event("e2", "FINISHED"), event("e3", "IN_PROGRESS")], {}, {}, RATES)
    assert carried[0] is carried[1]


@pytest.mark.parametrize(
    ("events", "owners", "kept", "clashing"),
    [
        ([("e1", "s1"), ("e2", "s2")], {}, ["e1/s1", "e2/s2"], []),
        # a redelivery: the stored bill of e1 is for the same session
        ([("e1", "s1")], {("p", "e1"): "s1"}, ["e1/s1"], []),
        # e1 already names s1's event: s2's event under the same key is left out
        ([("e1", "s2")], {("p", "e1"): "s1"}, [], ["e1/s2"]),
        # two items under one key in one batch: the first one keeps it
        ([("e1", "s1"), ("e1", "s2"), ("e1", "s1")], {}, ["e1/s1", "e1/s1"], ["e1/s2"]),
    ],
    ids=["distinct", "redelivered", "taken before", "taken in the batch"],
)
def test_an_event_id_taken_by_another_session_is_left_out(
    events: list[tuple[str, str]],
    owners: dict[tuple[str, str], str],
    kept: list[str],
    clashing: list[str],
) -> None:
    batch = [event(event_id, "FINISHED", session) for event_id, session in events]
    left, out = without_clashes(batch, owners)
    assert [f"{e.event_id}/{e.session.id}" for e in left] == kept
    assert [f"{e.event_id}/{e.session.id}" for e in out] == clashing
