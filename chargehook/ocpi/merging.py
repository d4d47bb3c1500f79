"""Taking in a batch of OCPI pushes: each stored once as it came, each touched Session merged
again from all it has (its pushes and the CDRs that name it), and the merge published
page-shaped on `chargehook.events`, where persist, billing and notify take it like any
provider's callback (docs/ocpi.md#the-pipeline).

The merges commit before they are published and the caller acks after every publish was
confirmed; a redelivery stores nothing new and publishes the same merges again, under the same
event ids, which persist and billing take once.
"""

import asyncio
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import msgspec
import structlog

from chargehook.billing.cdr_bills import bill_cdrs
from chargehook.ocpi import store
from chargehook.ocpi.cdr_charges import cdr_charge, cdr_fields_decoder
from chargehook.ocpi.cpos import note_error
from chargehook.ocpi.mapping import derived_event_id, page_session
from chargehook.ocpi.merge import Push, merge
from chargehook.plumbing.broker import EVENTS_EXCHANGE, Broker, OutboundMessage
from chargehook.plumbing.database import Connection, Pool, Record, columns, lock_keys
from chargehook.plumbing.errors import RejectMessage
from chargehook.providers.store import rates_of
from chargehook.schemas import Envelope, OcpiPush
from chargehook.sessions.events import event_headers, routing_key, session_decoder
from chargehook.sessions.intake import envelope_encoder

log = structlog.get_logger("chargehook.ocpi")
push_decoder = msgspec.json.Decoder(OcpiPush)
METHODS = {"session_put": "PUT", "session_patch": "PATCH"}


def read_push(body: bytes) -> OcpiPush:
    """Decode a message of `chargehook.ocpi`; RejectMessage if it can never be processed."""
    try:
        push = push_decoder.decode(body)
        if push.kind == "cdr":
            cdr_fields_decoder.decode(push.body)
    except msgspec.MsgspecError as exc:
        raise RejectMessage(f"not a valid OCPI push: {exc}") from None
    return push


@dataclass(frozen=True)
class Merged:
    """A Session merged from what is stored of it, as its page-shaped event."""

    envelope: Envelope
    status: str


async def take_in(pool: Pool, broker: Broker, batch: Sequence[OcpiPush]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        merged = await store_and_merge(conn, batch)
    await asyncio.gather(*(_publish(broker, m) for m in merged))
    # after the commit, apart: the CPO's row is not held while the merges are
    await pool.execute(store.LAST_PUSH, *columns(_last_pushes(batch)))
    log.info("ocpi pushes taken in", pushes=len(batch), published=len(merged))


async def store_and_merge(conn: Connection, batch: Sequence[OcpiPush]) -> list[Merged]:
    """Store the batch, bill its CDRs and merge every Session it touches: six statements,
    whatever its size, five more with CDRs (and one when a CDR's id was taken)."""
    sessions = _first_of_each(p for p in batch if p.kind in METHODS)
    cdrs = [(p, _cdr_session(p)) for p in _first_of_each(p for p in batch if p.kind == "cdr")]
    keys = sorted({_address(p) for p in sessions} | {k for _, k in cdrs if k})
    await lock_keys(conn, map(store.lock_key, keys))
    if sessions:
        await conn.execute(store.INSERT_PUSHES, *columns(map(_push_row, sessions)))
    billed = await _billed(conn, cdrs) if cdrs else []
    if billed:
        await _store_cdrs(conn, billed)
    return await _merge(conn, keys) if keys else []


async def _store_cdrs(
    conn: Connection, cdrs: list[tuple[OcpiPush, store.SessionKey | None]]
) -> None:
    """The first body stored under a CDR's id is the CDR. Another body (posted in the moment
    before the first was stored, or while ingest could not check) is dropped and noted on
    the CPO: it was answered 201, so operators must be able to see it."""
    rows = [_cdr_row(push, session) for push, session in cdrs]
    inserted = await conn.fetch(store.INSERT_CDRS, *columns(rows))
    new = {tuple(row) for row in inserted}
    taken = [p for p, _ in cdrs if _address(p) not in new]
    if not taken:
        return
    stored = await conn.fetch(store.CDR_PUSH_IDS, *columns(_row_key(p) for p in taken))
    first: dict[tuple[str, ...], str] = {
        (r["country_code"], r["party_id"], r["cdr_id"]): r["push_id"] for r in stored
    }
    for push in taken:
        if first.get(_row_key(push)) not in (None, push.push_id):
            message = f"CDR {'/'.join(_row_key(push))}: another body is stored; this one dropped"
            log.warning("ocpi cdr dropped", cpo=push.cpo, cdr_id=push.object_id)
            await note_error(conn, push.cpo, message)


async def _billed(
    conn: Connection, cdrs: list[tuple[OcpiPush, store.SessionKey | None]]
) -> list[tuple[OcpiPush, store.SessionKey | None]]:
    """Bill the CDRs (docs/billing.md#ocpi-sessions-and-cdrs); those that cannot be billed
    are stored nowhere and noted on the CPO, as ingest refuses them when it can tell."""
    charges = [cdr_charge(push) for push, _ in cdrs]
    rates = await rates_of(conn, {charge.provider for charge in charges})
    refused = await bill_cdrs(conn, charges, rates)
    for charge, reason in refused:
        log.warning("ocpi cdr refused", cpo=charge.provider, cdr_id=charge.cdr_id, reason=reason)
        await note_error(conn, charge.provider, f"CDR {charge.cdr_id} not billed: {reason}")
    dropped = {charge for charge, _ in refused}
    return [cdr for cdr, charge in zip(cdrs, charges, strict=True) if charge not in dropped]


async def _merge(conn: Connection, keys: list[store.SessionKey]) -> list[Merged]:
    wanted = columns(keys)
    pushes = _grouped(await conn.fetch(store.PUSHES_OF, *wanted))
    cdrs = _grouped(await conn.fetch(store.CDRS_OF, *wanted))
    rows, merged = [], []
    for key in keys:
        if not pushes[key]:
            continue  # a CDR of a Session not pushed yet: its merge will count the CDR
        row, made = _merge_one(key, pushes[key], cdrs[key])
        rows.append(row)
        if isinstance(made, Merged):
            merged.append(made)
        elif made is not None:
            log.warning("ocpi session not published", reason=made)
            await note_error(conn, pushes[key][0]["cpo"], made)
    if rows:
        await conn.execute(store.UPSERT_SESSIONS, *columns(rows))
    return merged


def _merge_one(
    key: store.SessionKey, pushes: list[Record], cdrs: list[Record]
) -> tuple[tuple[object, ...], Merged | str | None]:
    """The Session's row, and its page-shaped event once a PUT is among its pushes, or why a
    merge cannot be one."""
    session = merge(_as_push(r) for r in pushes)
    latest = max(pushes, key=lambda r: (r["last_updated"], r["push_id"]))
    count = len(pushes) + len(cdrs)
    row = (*key, latest["cpo"], count, latest["last_updated"], _text(session))
    if session is None:
        return row, None  # only PATCHes so far: the Session shows once its PUT comes
    try:
        page = page_session(session, sorted(r["cdr_id"] for r in cdrs))
        envelope = Envelope(
            event_id=derived_event_id(count, page),
            provider=latest["cpo"],
            received_at=max(r["received_at"] for r in [*pushes, *cdrs]),
            session=msgspec.Raw(page),
            origin="ocpi",
        )
        return row, Merged(envelope, session_decoder.decode(page).status)
    except (msgspec.MsgspecError, ValueError) as exc:
        # Ingest refuses each push that could not be merged alone (a PATCH's nulls, an end
        # before the start); one that breaks a rule only merged with the others (a PATCH's
        # end before the PUT's start) is stored and shown to the CPO, never published.
        return row, f"Session {'/'.join(key)} merged is no page session: {exc}"


async def _publish(broker: Broker, merged: Merged) -> None:
    e = merged.envelope
    headers = event_headers(merged.status, e.provider)
    message = OutboundMessage(envelope_encoder.encode(e), e.event_id, headers)
    await broker.publish(EVENTS_EXCHANGE, routing_key(merged.status, e.provider), message)
    log.debug("ocpi session published", provider=e.provider, event_id=e.event_id)


def _first_of_each(pushes: Iterable[OcpiPush]) -> list[OcpiPush]:
    """One push per stored key, in key order: rows written in one order never deadlock."""
    first: dict[tuple[str, ...], OcpiPush] = {}
    for push in pushes:
        first.setdefault(_row_key(push), push)
    return [first[key] for key in sorted(first)]


def _row_key(push: OcpiPush) -> tuple[str, ...]:
    """A CDR is stored once per address, a Session push once per push."""
    return _address(push) if push.kind == "cdr" else (*_address(push), push.push_id)


def _address(push: OcpiPush) -> store.SessionKey:
    """The pushed object's (country_code, party_id, id): a Session's, or a CDR's."""
    return (push.country_code, push.party_id, push.object_id)


def _cdr_session(push: OcpiPush) -> store.SessionKey | None:
    """The address of the Session a CDR names, if it names one."""
    session_id = cdr_fields_decoder.decode(push.body).session_id
    return None if session_id is None else (push.country_code, push.party_id, session_id)


def _push_row(p: OcpiPush) -> tuple[object, ...]:
    return (
        p.country_code, p.party_id, p.object_id, p.push_id, p.cpo, METHODS[p.kind],
        p.last_updated, p.received_at, bytes(p.body).decode(),
    )  # fmt: skip


def _cdr_row(p: OcpiPush, session: store.SessionKey | None) -> tuple[object, ...]:
    return (
        p.country_code, p.party_id, p.object_id, p.cpo, session and session[2], p.push_id,
        p.last_updated, p.received_at, bytes(p.body).decode(),
    )  # fmt: skip


def _as_push(row: Record) -> Push:
    return Push(row["method"], row["last_updated"], row["push_id"], row["body"].encode())


def _grouped(rows: list[Record]) -> defaultdict[store.SessionKey, list[Record]]:
    grouped: defaultdict[store.SessionKey, list[Record]] = defaultdict(list)
    for row in rows:
        grouped[(row["country_code"], row["party_id"], row["session_id"])].append(row)
    return grouped


def _last_pushes(batch: Sequence[OcpiPush]) -> list[tuple[str, datetime]]:
    latest: dict[str, datetime] = {}
    for push in batch:
        latest[push.cpo] = max(latest.get(push.cpo, push.received_at), push.received_at)
    return sorted(latest.items())


def _text(session: bytes | None) -> str | None:
    return None if session is None else session.decode()
