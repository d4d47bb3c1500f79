"""Which parties (country code, party id) each CPO may push for, held in memory: a push's
party check costs no query (docs/ocpi.md#parties)."""

from chargehook.plumbing.database import Pool

Party = tuple[str, str]  # (country_code, party_id), upper case
PARTIES = "SELECT cpo, country_code, party_id FROM ocpi_parties"


def party(country_code: str, party_id: str) -> Party:
    """CiString is case-insensitive: parties are compared upper case."""
    return country_code.upper(), party_id.upper()


class PartyTable:
    """Every CPO's parties, reloaded with the token table (`TokenTable(pool, parties.load)`):
    the trigger of migration 0009 announces a change on the tokens' channel."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._parties: dict[str, frozenset[Party]] = {}

    async def load(self) -> None:
        found: dict[str, set[Party]] = {}
        for row in await self._pool.fetch(PARTIES):
            found.setdefault(row["cpo"], set()).add((row["country_code"], row["party_id"]))
        self._parties = {cpo: frozenset(parties) for cpo, parties in found.items()}

    def of(self, cpo: str) -> frozenset[Party]:
        return self._parties.get(cpo, frozenset())

    def may_push(self, cpo: str, country_code: str, party_id: str) -> bool:
        return party(country_code, party_id) in self.of(cpo)
