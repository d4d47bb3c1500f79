"""A batch is billed as if its events were billed one by one, in order (billing.plan)."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import msgspec
import pytest

from chargehook.billing.plan import Head, Made, plan, without_clashes
from chargehook.billing.rules import inputs_of
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing, Envelope
from chargehook.sessions.events import SessionEvent, read_event

AT = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
RATES = {"p": Rates()}
NUMBERS = msgspec.json.Encoder(decimal_format="number")


def event(
    event_id: str,
    status: str,
    session: str = "s1",
    *,
    price: str | None = "2",
    at: str = "10:30",
    origin: Literal["callback", "ocpi"] = "callback",
) -> SessionEvent:
    item = {
        "id": session,
        "status": status,
        "currency": "EUR",
        "price_unit": "session",
        "plug_price": None if price is None else Decimal(price),
        "started": "2026-03-01T10:00:00Z",
        "finished": "2026-03-01T10:30:00Z",
        "updatedAt": f"2026-03-01T{at}:00Z",
    }
    envelope = Envelope(
        event_id=event_id,
        provider="p",
        received_at=AT,
        session=msgspec.Raw(NUMBERS.encode(item)),
        origin=origin,
    )
    return read_event(msgspec.json.encode(envelope))


def stored(
    kind: Literal["final", "estimate", "credit"], event_id: str, bill_id: int = 7
) -> Billing:
    zero = None
    return Billing(
        kind=kind, event_id=event_id, currency="EUR", price_unit="session", quantity=zero,
        base=zero, access_fee=zero, subtotal=zero, commission=zero, tax=zero, amount=zero,
        commission_rate=Rates().commission, tax_rate=Rates().tax, bill_id=bill_id,
    )  # fmt: skip


def head(kind: Literal["final", "credit"], event_id: str, inputs: str | None = None) -> Head:
    """A stored head made by `event(event_id, "FINISHED")` at 10:30 (or with other inputs)."""
    made = inputs_of(event(event_id, "FINISHED").session) if inputs is None else inputs
    return Head(stored(kind, event_id), datetime(2026, 3, 1, 10, 30, tzinfo=UTC), made)


S1 = ("p", "s1")


def carried_by(item: Billing | Made) -> str:
    """Which event's bill an event carries, whether it is new, and what a new one replaces."""
    if isinstance(item, Billing):
        return f"stored {item.kind} of {item.event_id}"
    replaces = item.replaces
    if replaces is None:
        return f"new {item.bill.kind} of {item.event.event_id}"
    old = carried_by(replaces.billing if isinstance(replaces, Head) else replaces)
    return f"new {item.bill.kind} of {item.event.event_id} replacing {old}"


@pytest.mark.parametrize(
    ("batch", "heads", "own", "expected"),
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
            ["new final of e2", "new final of e2"], id="a-second-finished-with-the-same-inputs",
        ),
        pytest.param(
            [event("e1", "IN_PROGRESS"), event("e1", "IN_PROGRESS")], {}, {},
            ["new estimate of e1", "new estimate of e1"], id="a-repeat-in-the-batch",
        ),
        pytest.param(
            [event("e3", "IN_PROGRESS")], {S1: head("final", "e2")}, {},
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
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:40")], {S1: head("final", "e2")}, {},
            ["new final of e5 replacing stored final of e2"], id="a-later-final-with-new-inputs",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:30")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="not-later-is-no-correction",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:20")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="an-older-event-is-no-correction",
        ),
        pytest.param(
            [event("e5", "FINISHED", at="10:40")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="later-with-the-same-inputs-is-no-correction",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="2.000", at="10:40")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="the-same-price-written-otherwise",
        ),
        pytest.param(
            [event("e5", "IN_PROGRESS", price="3", at="10:40")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="an-estimate-never-corrects",
        ),
        pytest.param(
            [event("e5", "FINISHED", price=None, at="10:40")], {S1: head("final", "e2")}, {},
            ["stored final of e2"], id="an-incomplete-bill-never-corrects",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:40")],
            {S1: head("final", "e2", inputs="")}, {},
            ["new final of e5 replacing stored final of e2"], id="inputs-are-compared-as-stored",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:40")],
            {S1: Head(stored("final", "e2"), datetime(2026, 3, 1, 10, 30, tzinfo=UTC), None)},
            {}, ["stored final of e2"], id="a-final-from-before-corrections-stays",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:40")],
            {S1: head("final", "e2")}, {("p", "e5"): stored("final", "e5", 9)},
            ["stored final of e2"], id="a-redelivered-correction-makes-nothing",
        ),
        pytest.param(
            [event("e2", "FINISHED"), event("e5", "FINISHED", price="3", at="10:40"),
             event("e6", "FINISHED", price="4", at="10:50")], {}, {},
            ["new final of e2", "new final of e5 replacing new final of e2",
             "new final of e6 replacing new final of e5 replacing new final of e2"],
            id="a-chain-in-one-batch",
        ),
        pytest.param(
            [event("e5", "FINISHED", price="3", at="10:40")], {S1: head("credit", "e2")}, {},
            ["stored credit of e2"], id="after-a-credit-alone-only-a-cdr-makes-a-final",
        ),
        pytest.param(
            [event("o1", "FINISHED", origin="ocpi")], {}, {},
            ["new estimate of o1"], id="an-ocpi-session-completed-is-an-estimate",
        ),
        pytest.param(
            [event("o2", "FINISHED", price="3", at="10:40", origin="ocpi")],
            {S1: head("final", "e2")}, {}, ["stored final of e2"],
            id="an-ocpi-session-carries-its-cdr-final",
        ),
    ],
)  # fmt: skip
def test_a_batch_is_billed_as_one_by_one(
    batch: list[SessionEvent],
    heads: dict[tuple[str, str], Head],
    own: dict[tuple[str, str], Billing],
    expected: list[str],
) -> None:
    assert [carried_by(item) for item in plan(batch, heads, own, RATES).carried] == expected


def test_a_correction_keeps_the_rates_of_the_final_it_replaces() -> None:
    old = Head(
        msgspec.structs.replace(stored("final", "e2"), commission_rate=Decimal("0.05")),
        datetime(2026, 3, 1, 10, 30, tzinfo=UTC),
        inputs_of(event("e2", "FINISHED").session),
    )
    (made,) = plan([event("e5", "FINISHED", price="3", at="10:40")], {S1: old}, {}, RATES).carried
    assert isinstance(made, Made)
    assert made.bill.rates == Rates(Decimal("0.05"), Rates().tax)


def test_a_new_bill_is_made_once_however_often_it_is_carried() -> None:
    carried = plan([event("e2", "FINISHED"), event("e3", "IN_PROGRESS")], {}, {}, RATES).carried
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


def test_a_later_final_with_the_same_inputs_moves_the_mark_so_an_older_one_corrects_nothing() -> (
    None
):
    """e3 (10:50) says again what the final says; e2 (10:40) comes late with another price."""
    batch = [event("e3", "FINISHED", at="10:50"), event("e2", "FINISHED", price="3", at="10:40")]
    planned = plan(batch, {S1: head("final", "e1")}, {}, RATES)
    assert [carried_by(item) for item in planned.carried] == ["stored final of e1"] * 2
    assert planned.seen_until == {S1: datetime(2026, 3, 1, 10, 50, tzinfo=UTC)}
    marked = Head(stored("final", "e1"), head("final", "e1").updated_at,
                  head("final", "e1").inputs, planned.seen_until[S1])  # fmt: skip
    late = plan([event("e2", "FINISHED", price="3", at="10:40")], {S1: marked}, {}, RATES)
    assert [carried_by(item) for item in late.carried] == ["stored final of e1"]
    assert late.seen_until == {}
    later = plan([event("e4", "FINISHED", price="3", at="11:00")], {S1: marked}, {}, RATES)
    assert [carried_by(item) for item in later.carried] == [
        "new final of e4 replacing stored final of e1"
    ]
    assert later.seen_until == {}  # the new final is its own mark
