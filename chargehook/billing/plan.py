"""Which figures each event of a batch carries, decided as if the events were billed one by one
in order: pure, so a batch needs one read and one write whatever its size.

An event whose session already has a final bill carries that bill; an event billed before (a
redelivery) carries its own bill; any other event gets a new bill, and once a new final is made
in the batch, later events of that session carry it too (docs/billing.md#once-per-session).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from chargehook.billing.rules import Bill, bill, differing_figures
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import SessionRef

EventRef = tuple[str, str]  # (provider, event id)


@dataclass(frozen=True)
class Made:
    """A new bill, made for `event`; other events of the batch may carry it too."""

    event: SessionEvent
    bill: Bill
    differing: dict[str, tuple[Decimal, Decimal]]  # the provider's figures that differ from ours

    @property
    def ref(self) -> EventRef:
        return self.event.provider, self.event.event_id


def plan(
    events: Sequence[SessionEvent],
    finals: Mapping[SessionRef, Billing],
    own: Mapping[EventRef, Billing],
    rates: Mapping[str, Rates],
) -> list[Billing | Made]:
    """For each event, in order: the stored bill it carries, or the new bill it carries."""
    made: dict[EventRef, Made] = {}
    made_finals: dict[SessionRef, Made] = {}
    carried: list[Billing | Made] = []
    for event in events:
        session, ref = (event.provider, event.session.id), (event.provider, event.event_id)
        known = finals.get(session) or made_finals.get(session) or own.get(ref) or made.get(ref)
        if known is None:
            known = _make(event, rates[event.provider])
            made[ref] = known
            if known.bill.kind == "final":
                made_finals[session] = known
        carried.append(known)
    return carried


def without_clashes(
    events: Sequence[SessionEvent], owners: Mapping[EventRef, str]
) -> tuple[list[SessionEvent], list[SessionEvent]]:
    """The events to bill, and those whose event id already names another session's event
    (an Idempotency-Key reused with another item): the first one stored keeps the id, as in
    the history (chargehook.sessions.store), and the others are neither billed nor published."""
    kept: list[SessionEvent] = []
    clashing: list[SessionEvent] = []
    seen = dict(owners)
    for event in events:
        ref = (event.provider, event.event_id)
        owner = seen.setdefault(ref, event.session.id)
        (kept if owner == event.session.id else clashing).append(event)
    return kept, clashing


def _make(event: SessionEvent, rates: Rates) -> Made:
    computed = bill(event.session, rates)
    lines = computed.lines
    differing = {} if lines is None else differing_figures(event.session, lines)
    return Made(event, computed, differing)
