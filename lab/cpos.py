"""A registered OCPI CPO made straight in the database, as one is once its registration
succeeded (docs/ocpi.md): for the tests and the bench, which need a CPO that can push without
a CPO of their own to register it."""

from chargehook.plumbing.database import Pool
from chargehook.providers.store import add_provider

REGISTERED = "INSERT INTO ocpi_cpos (name, state, registered_at) VALUES ($1, 'registered', now())"
PARTY = "INSERT INTO ocpi_parties (country_code, party_id, cpo) VALUES ($1, $2, $3)"


async def registered_cpo(pool: Pool, name: str, country_code: str, party_id: str) -> str:
    """The CPO `name` with one party, registered; its token C. A running ingest learns of it
    by the tokens' NOTIFY; one started after it loads it."""
    token = await add_provider(pool, name, use="ocpi")
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(REGISTERED, name)
        await conn.execute(PARTY, country_code, party_id, name)
    return token
