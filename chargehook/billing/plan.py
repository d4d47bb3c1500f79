"""Which bill each event of a batch carries, and which bills are new, decided as if the events
were billed one by one in order: pure, so a batch needs one read and one write whatever its
size (docs/billing.md#the-ledger).

A session's head is its uncredited final, or else its latest credit. An event billed before (a
redelivery) makes nothing new. An event of a session with a head carries the head, unless it
corrects it: a later page-shaped final whose inputs differ credits the head and makes a new
final with the head's rates. Any other event gets a new bill, and a new final becomes the head.
An OCPI Session is priced as an estimate, even COMPLETED: only its CDR makes a final
(chargehook.billing.cdr_bills).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from chargehook.billing.rules import Bill, bill, differing_figures, inputs_of
from chargehook.providers.rules import Rates
from chargehook.schemas import Billing
from chargehook.sessions.events import SessionEvent
from chargehook.sessions.order import SessionRef

EventRef = tuple[str, str]  # (provider, event id)


@dataclass(frozen=True)
class Head:
    """A session's stored head: its uncredited final, or its latest credit."""

    billing: Billing
    updated_at: datetime  # of the event the bill was made for
    inputs: str | None  # None for a final made before corrections were (migration 0011)
    # the latest complete final event seen of the session, when later than the head's own
    seen_until: datetime | None = None

    @property
    def since(self) -> datetime:
        """Only a later event corrects the head."""
        return max(self.updated_at, self.seen_until or self.updated_at)


@dataclass(frozen=True, eq=False)
class Made:
    """A new bill, made for `event`; other events of the batch may carry it too. A correction
    `replaces` a final (stored, or made earlier in the batch), which it also credits."""

    event: SessionEvent
    bill: Bill
    differing: dict[str, tuple[Decimal, Decimal]]  # the provider's figures that differ from ours
    inputs: str | None = None  # a page-shaped final's
    replaces: "Head | Made | None" = None

    @property
    def ref(self) -> EventRef:
        return self.event.provider, self.event.event_id

    @property
    def updated_at(self) -> datetime:
        return self.event.session.updatedAt or self.event.received_at


@dataclass(frozen=True)
class Plan:
    """Each event's bill, and the sessions whose latest complete final event moved on without
    a new final (a later event with the same inputs): a later mark for each."""

    carried: list[Billing | Made]
    seen_until: dict[SessionRef, datetime]


def plan(
    events: Sequence[SessionEvent],
    heads: Mapping[SessionRef, Head],
    own: Mapping[EventRef, Billing],
    rates: Mapping[str, Rates],
) -> Plan:
    """For each event, in order: the stored bill it carries, or the new bill it carries."""
    made: dict[EventRef, Made] = {}
    current: dict[SessionRef, Head | Made] = dict(heads)
    since = {session: head.since for session, head in heads.items()}
    marks: dict[SessionRef, datetime] = {}
    carried: list[Billing | Made] = []
    for event in events:
        session, ref = (event.provider, event.session.id), (event.provider, event.event_id)
        head = current.get(session)
        known = own.get(ref) or made.get(ref)
        if known is not None:  # billed before: a repeat makes nothing new
            carried.append(_item(head) if head else known)
            continue
        item, candidate = _bill_for(event, head, rates[event.provider], since.get(session))
        if isinstance(item, Made) and item.event is event:
            made[ref] = item
            if item.bill.kind == "final":
                current[session], since[session] = item, item.updated_at
                marks.pop(session, None)
        elif candidate is not None and candidate.updated_at > since[session]:
            since[session] = marks[session] = candidate.updated_at
        carried.append(item)
    return Plan(carried, marks)


def _item(head: Head | Made) -> Billing | Made:
    return head.billing if isinstance(head, Head) else head


def _bill_for(
    event: SessionEvent, head: Head | Made | None, rates: Rates, since: datetime | None
) -> tuple[Billing | Made, Made | None]:
    """The new bill `event` makes, or its session's head, which it carries; and the final it
    would make in the head's place, if it is a complete final."""
    if head is None:
        if event.envelope.origin == "ocpi":
            return _ocpi_estimate(event, rates), None
        return _make(event, rates), None
    if event.envelope.origin == "ocpi" or kind_of(head) != "final":
        return _item(head), None  # after a credit, only a new final (a CDR) makes something new
    candidate = _make(event, rates_of(head))
    if candidate.bill.kind != "final":
        return _item(head), None
    if since is not None and corrects(candidate, head, since):
        return replace(candidate, replaces=head), candidate
    return _item(head), candidate


def corrects(candidate: Made, head: Head | Made, since: datetime) -> bool:
    """docs/billing.md#corrections: a complete final of an event later than every complete
    final seen of the session, whose inputs differ from the head's."""
    return (
        candidate.bill.kind == "final"
        and head.inputs is not None
        and candidate.inputs != head.inputs
        and candidate.updated_at > since
    )


def kind_of(head: Head | Made) -> str:
    return head.billing.kind if isinstance(head, Head) else head.bill.kind


def rates_of(head: Head | Made) -> Rates:
    if isinstance(head, Made):
        return head.bill.rates
    return Rates(head.billing.commission_rate, head.billing.tax_rate)


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
    inputs = inputs_of(event.session) if computed.kind == "final" else None
    return Made(event, computed, differing, inputs)


def _ocpi_estimate(event: SessionEvent, rates: Rates) -> Made:
    """A Session's price so far: an estimate whatever its status, the CDR makes the final. The
    CPO's total is net of our commission, so it is no figure to compare with ours."""
    computed = bill(event.session, rates)
    if computed.kind == "final":
        computed = replace(computed, kind="estimate")
    return Made(event, computed, {})
