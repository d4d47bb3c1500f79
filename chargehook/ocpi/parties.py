"""Which parties (country code, party id) each CPO may push for, held in memory: a push's
party check costs no query (docs/ocpi.md#parties)."""

import re

from chargehook.plumbing.database import Pool
from chargehook.schemas.ocpi_cpos import PARTY_PATTERN

Party = tuple[str, str]  # (country_code, party_id), upper case
CODE = re.compile(PARTY_PATTERN)
PARTIES = "SELECT cpo, country_code, party_id FROM ocpi_parties"


def party(country_code: str, party_id: str) -> Party:
    """CiString is case-insensitive: parties are compared upper case."""
    return country_code.upper(), party_id.upper()


def parse_party(code: str) -> Party:
    """A party as operators write it, `ES-ABC` (any case); ValueError when it is not one."""
    if not CODE.fullmatch(code):
        raise ValueError(f"party {code!r}: expected country code, '-', party id, e.g. ES-ABC")
    country_code, _, party_id = code.partition("-")
    return party(country_code, party_id)


def party_code(found: Party) -> str:
    return "-".join(found)


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
