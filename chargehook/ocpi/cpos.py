"""The ocpi_cpos and ocpi_parties tables of migration 0009: registering a CPO with its parties
and token A, storing its registration (token C issued in the same transaction as token A goes),
unregistering it, its last error, and reading CPOs back for operators (never token B)."""

import asyncio
from collections.abc import Collection

import msgspec
import structlog

from chargehook.ocpi.parties import Party
from chargehook.plumbing.database import Connection, Pool, Record
from chargehook.providers.store import issue_token, upsert_provider
from chargehook.schemas.ocpi_cpos import Cpo, CpoEndpoint
from chargehook.schemas.ocpi_transport import CredentialsRole, Endpoint

log = structlog.get_logger("chargehook.ocpi")

ADD_PARTIES = """
INSERT INTO ocpi_parties (country_code, party_id, cpo)
SELECT country_code, party_id, $1 FROM unnest($2::text[], $3::text[]) AS w(country_code, party_id)
ON CONFLICT DO NOTHING
"""
TAKEN = """
SELECT country_code, party_id, cpo FROM ocpi_parties
WHERE (country_code, party_id) IN (SELECT * FROM unnest($2::text[], $3::text[])) AND cpo <> $1
ORDER BY country_code, party_id
"""
READ = """
SELECT c.name, c.state, c.versions_url, c.version, c.endpoints::text AS endpoints, c.created_at,
       c.registered_at, c.last_push_at, c.last_error, c.last_error_at,
       coalesce(array_agg(p.country_code || '-' || p.party_id ORDER BY p.country_code, p.party_id)
                FILTER (WHERE p.cpo IS NOT NULL), '{}') AS parties
FROM ocpi_cpos c LEFT JOIN ocpi_parties p ON p.cpo = c.name
WHERE $1::text IS NULL OR c.name = $1
GROUP BY c.name
ORDER BY c.name
"""
REGISTER = """
UPDATE ocpi_cpos SET state = 'registered', versions_url = $2, version = $3, token_b = $4,
       endpoints = $5::jsonb, roles = $6::jsonb, registered_at = now()
WHERE name = $1 AND (state = 'registered') = $7
RETURNING name
"""
UNREGISTER = """
UPDATE ocpi_cpos SET state = 'unregistered', token_b = NULL
WHERE name = $1 AND state = 'registered'
RETURNING name
"""
DROP_TOKENS = "DELETE FROM provider_tokens WHERE provider = $1 AND use = ANY($2::text[])"
endpoints_decoder = msgspec.json.Decoder(list[CpoEndpoint])
STATE_NAMES = {
    "token_a_issued": "token A issued",
    "registered": "registered",
    "unregistered": "unregistered",
}


class UnknownCpo(Exception):
    """No CPO of that name."""


class CpoConflict(Exception):
    """The CPO's state or another CPO's parties forbid the change; the message says which."""


CALLBACK_TOKENS = "SELECT 1 FROM provider_tokens WHERE provider = $1 AND use = 'callbacks'"


async def create_cpo(pool: Pool, name: str, parties: Collection[Party]) -> str:
    """Register the CPO (and the provider it is), or add parties to one not registered, and
    issue a fresh token A, returned only this once; earlier token A's stop working."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(CALLBACK_TOKENS, name):
            raise CpoConflict(
                f"{name} is a provider posting page-shaped callbacks; a CPO needs a name of its"
                " own (its Sessions' page ids would share the provider's, and revoking one"
                " would end the other's tokens)"
            )
        await upsert_provider(conn, name)
        await conn.execute("INSERT INTO ocpi_cpos (name) VALUES ($1) ON CONFLICT DO NOTHING", name)
        token = await _token_a(conn, name)  # locks the CPO's row first
        countries, ids = [p[0] for p in parties], [p[1] for p in parties]
        await conn.execute(ADD_PARTIES, name, countries, ids)
        if taken := await conn.fetch(TAKEN, name, countries, ids):
            owned = ", ".join(f"{r['country_code']}-{r['party_id']} ({r['cpo']})" for r in taken)
            raise CpoConflict(f"parties already another CPO's: {owned}")
        return token


async def renew_token_a(pool: Pool, name: str) -> str:
    """A fresh token A for a CPO that is not registered (after an unregister, say)."""
    async with pool.acquire() as conn, conn.transaction():
        return await _token_a(conn, name)


async def _token_a(conn: Connection, name: str) -> str:
    state = await conn.fetchval("SELECT state FROM ocpi_cpos WHERE name = $1 FOR UPDATE", name)
    if state is None:
        raise UnknownCpo(name)
    if state == "registered":
        raise CpoConflict(
            f"CPO {name} is registered: it holds token C and needs no token A; parties and"
            " token A are for a CPO before it registers or after it unregisters"
        )
    await conn.execute("UPDATE ocpi_cpos SET state = 'token_a_issued' WHERE name = $1", name)
    await conn.execute(DROP_TOKENS, name, ["ocpi_registration"])
    return await issue_token(conn, name, "ocpi_registration")


async def list_cpos(pool: Pool) -> list[Cpo]:
    return [_cpo(row) for row in await pool.fetch(READ, None)]


async def read_cpo(pool: Pool, name: str) -> Cpo | None:
    row = await pool.fetchrow(READ, name)
    return None if row is None else _cpo(row)


def _cpo(row: Record) -> Cpo:
    return Cpo(
        name=row["name"],
        state=row["state"],
        parties=list(row["parties"]),
        versions_url=row["versions_url"],
        version=row["version"],
        endpoints=endpoints_decoder.decode(row["endpoints"]),
        created_at=row["created_at"],
        registered_at=row["registered_at"],
        last_push_at=row["last_push_at"],
        last_error=row["last_error"],
        last_error_at=row["last_error_at"],
    )


async def store_registration(
    pool: Pool,
    name: str,
    versions_url: str,
    version: str,
    token_b: str,
    endpoints: list[Endpoint],
    roles: list[CredentialsRole],
    first: bool,
) -> str | None:
    """Keep what the CPO registered with, and issue its new token C (returned only this once);
    its token A and earlier token C's stop working in the same transaction. `first`: a first
    registration (the CPO must not be registered), else a re-registration (it must be). None
    when the CPO's state did not allow it."""
    async with pool.acquire() as conn, conn.transaction():
        encode = msgspec.json.encode
        stored = await conn.fetchval(
            REGISTER, name, versions_url, version, token_b, encode(endpoints).decode(),
            encode(roles).decode(), not first,
        )  # fmt: skip
        if stored is None:
            return None
        await conn.execute(DROP_TOKENS, name, ["ocpi_registration", "ocpi"])
        return await issue_token(conn, name, "ocpi")


async def store_unregistration(pool: Pool, name: str) -> bool:
    """The CPO unregistered: its token C's and its token B are gone; False when it was not
    registered."""
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchval(UNREGISTER, name) is None:
            return False
        await conn.execute(DROP_TOKENS, name, ["ocpi"])
        return True


NOTE_ERROR = "UPDATE ocpi_cpos SET last_error = $2, last_error_at = now() WHERE name = $1"
NOTE_WITHIN = 1.0  # seconds a refusal's note may take: the refusal is answered regardless


async def note_error(db: "Pool | Connection", cpo: str, message: str) -> None:
    """The CPO's last error, for operators (a refused push, a failed registration, a merge
    subscribers cannot be given)."""
    await db.execute(NOTE_ERROR, cpo, message)


async def note_refusal(pool: Pool, cpo: str, push: str, status: int, message: str) -> None:
    """A push (`PUT /ocpi/...`) refused for the CPO's own mistake, noted as its last error,
    within NOTE_WITHIN; a database that cannot take the note changes nothing. A push over the
    rate is not noted: a flood of them would be a write each."""
    log.info("ocpi push refused", cpo=cpo, push=push, status=status, message=message)
    if status == 429:
        return
    try:
        await asyncio.wait_for(note_error(pool, cpo, f"{push}: {status} {message}"), NOTE_WITHIN)
    except Exception as exc:  # noqa: BLE001 - the refusal is answered whatever becomes of its note
        log.warning("ocpi refusal not noted on the CPO", cpo=cpo, error=repr(exc))
