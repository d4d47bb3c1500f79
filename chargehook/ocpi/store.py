"""The OCPI tables of migration 0009: Session pushes as they came, each Session as the merge of
its pushes, and CDRs, immutable (docs/ocpi.md#what-is-stored)."""

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
