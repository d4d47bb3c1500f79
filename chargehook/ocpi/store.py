"""The OCPI tables of migration 0009: Session pushes as they came, each Session as the merge of
its pushes, and CDRs, immutable (docs/ocpi.md#what-is-stored)."""

from chargehook.ocpi.mapping import ocpi_address
from chargehook.plumbing.database import Pool

SESSION = """
SELECT session::text FROM ocpi_sessions
WHERE country_code = $1 AND party_id = $2 AND session_id = $3 AND session IS NOT NULL
"""
CDR = "SELECT body::text FROM ocpi_cdrs WHERE country_code = $1 AND party_id = $2 AND cdr_id = $3"


async def stored_session(
    pool: Pool, country_code: str, party_id: str, session_id: str
) -> bytes | None:
    """The Session as the merge of its stored pushes; None before its first PUT is stored."""
    text: str | None = await pool.fetchval(SESSION, country_code, party_id, session_id)
    return None if text is None else text.encode()


async def stored_cdr(pool: Pool, country_code: str, party_id: str, cdr_id: str) -> bytes | None:
    """The CDR as first stored under its id."""
    text: str | None = await pool.fetchval(CDR, country_code, party_id, cdr_id)
    return None if text is None else text.encode()


async def session_cdrs(pool: Pool, provider: str, page_id: str) -> list[bytes]:
    """The CDRs that name the OCPI Session a page session is (`provider` its CPO, `page_id`
    the page's id of it), as stored, by id; none for a page session that is not an OCPI one."""
    address = ocpi_address(page_id)
    if address is None:
        return []
    rows = await pool.fetch(SESSION_CDRS, provider, *address)
    return [row[0].encode() for row in rows]


SessionKey = tuple[str, str, str]  # (country_code, party_id, session_id)

INSERT_PUSHES = """
INSERT INTO ocpi_session_pushes
    (country_code, party_id, session_id, push_id, cpo, method, last_updated, received_at, body)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::json[])
ON CONFLICT DO NOTHING
"""
INSERT_CDRS = """
INSERT INTO ocpi_cdrs
    (country_code, party_id, cdr_id, cpo, session_id, push_id, last_updated, received_at, body)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::json[])
ON CONFLICT DO NOTHING
RETURNING country_code, party_id, cdr_id
"""
CDR_PUSH_IDS = """
SELECT c.country_code, c.party_id, c.cdr_id, c.push_id FROM ocpi_cdrs c
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (country_code, party_id, cdr_id)
  USING (country_code, party_id, cdr_id)
"""
PUSHES_OF = """
SELECT p.country_code, p.party_id, p.session_id, p.cpo, p.method, p.last_updated,
       p.received_at, p.push_id, p.body::text AS body
FROM ocpi_session_pushes p
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (country_code, party_id, session_id)
  USING (country_code, party_id, session_id)
"""
CDRS_OF = """
SELECT c.country_code, c.party_id, c.session_id, c.cdr_id, c.received_at
FROM ocpi_cdrs c
JOIN unnest($1::text[], $2::text[], $3::text[]) AS k (country_code, party_id, session_id)
  USING (country_code, party_id, session_id)
"""
UPSERT_SESSIONS = """
INSERT INTO ocpi_sessions AS s
    (country_code, party_id, session_id, cpo, pushes, last_updated, session)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::timestamptz[], $7::json[])
ON CONFLICT (country_code, party_id, session_id) DO UPDATE SET
    cpo = EXCLUDED.cpo, pushes = EXCLUDED.pushes, last_updated = EXCLUDED.last_updated,
    session = EXCLUDED.session, stored_at = now()
WHERE EXCLUDED.pushes > s.pushes
"""
LAST_PUSH = """
UPDATE ocpi_cpos c SET last_push_at = greatest(c.last_push_at, p.at)
FROM unnest($1::text[], $2::timestamptz[]) AS p (name, at) WHERE c.name = p.name
"""
SESSION_CDRS = """
SELECT body::text FROM ocpi_cdrs
WHERE cpo = $1 AND country_code = $2 AND party_id = $3 AND session_id = $4 ORDER BY cdr_id
"""


def lock_key(key: SessionKey) -> str:
    return "ocpi.session\n" + "\n".join(key)
