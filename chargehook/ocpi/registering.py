"""Onboarding a CPO (credentials.asciidoc, docs/ocpi.md#onboarding-a-cpo): an operator adds it with
its parties and hands it token A; the CPO reads our versions and registers with its token B;
we read its versions with token B, keep its endpoints and answer with token C. Re-registering
(PUT) gives a new token C, unregistering (DELETE) ends every token C.

The rules of the spec, and where they bend:

- POST by a registered CPO, PUT or DELETE by one that is not: HTTP 405, status 2000.
- The offered roles must include role CPO for at least one party the operator registered
  for it (else 2001 naming `roles`); parties outside those are ignored, never added: the
  operator decides which parties a CPO pushes for.
- A CPO whose API cannot be used is answered 3001, 3002 or 3003 (`cpo_client`) with HTTP 400
  (docs/ocpi.md#transport: the registration failed on what the CPO offered) and nothing is
  registered; the reason is kept as its last error for operators.
- Our tokens (A and C) are stored as digests, as every provider token; GET on credentials
  therefore answers with the caller's own token, the one it called with.
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import timedelta

from chargehook.ocpi import cpos
from chargehook.ocpi.cpo_client import CpoApiError, version_details_of
from chargehook.ocpi.parties import Party, parse_party, party, party_code
from chargehook.plumbing.database import Pool
from chargehook.providers.rules import TokenUse
from chargehook.providers.store import revoke_tokens, rotate_token
from chargehook.schemas.ocpi_transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    VERSION,
    BusinessDetails,
    Credentials,
    CredentialsRole,
    Endpoint,
    Version,
    VersionDetails,
)

VERSIONS_PATH = "/ocpi/versions"
DETAILS_PATH = f"/ocpi/{VERSION}"


@dataclass(frozen=True)
class Registry:
    pool: Pool
    public_url: str  # base URL of ingest; our versions URL is f"{public_url}/ocpi/versions"
    allow_private_urls: bool
    us: CredentialsRole  # our role EMSP, our party and business details (from settings)


class RegistrationError(Exception):
    """The registration is refused: answer with this HTTP status and OCPI status code."""

    def __init__(self, http_status: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status, self.status_code, self.message = http_status, status_code, message


def our_role(country_code: str, party_id: str, business_name: str) -> CredentialsRole:
    """Who chargehook is to CPOs: an eMSP with this party and name (CHARGEHOOK_OCPI_*)."""
    return CredentialsRole(
        role="EMSP",
        business_details=BusinessDetails(name=business_name),
        party_id=party_id.upper(),
        country_code=country_code.upper(),
    )


def versions_url(public_url: str) -> str:
    return public_url.rstrip("/") + VERSIONS_PATH


def versions(public_url: str) -> list[Version]:
    """GET /ocpi/versions: the one version chargehook speaks."""
    return [Version(version=VERSION, url=public_url.rstrip("/") + DETAILS_PATH)]


def version_details(public_url: str) -> VersionDetails:
    """GET /ocpi/2.2.1: our credentials endpoint (SENDER, as version_information_endpoint
    .asciidoc advises for one's own), and the Sessions and CDRs we receive pushes on."""
    base = public_url.rstrip("/") + DETAILS_PATH
    return VersionDetails(
        version=VERSION,
        endpoints=[
            Endpoint(identifier="credentials", role="SENDER", url=f"{base}/credentials"),
            Endpoint(identifier="sessions", role="RECEIVER", url=f"{base}/sessions"),
            Endpoint(identifier="cdrs", role="RECEIVER", url=f"{base}/cdrs"),
        ],
    )


def our_credentials(registry: Registry, token: str) -> Credentials:
    """Our credentials, carrying the token the caller holds (we keep only its digest)."""
    return Credentials(token=token, url=versions_url(registry.public_url), roles=[registry.us])


def pushing_parties(offered: list[CredentialsRole], registered: Collection[Party]) -> set[Party]:
    """The registered parties the CPO's credentials offer as role CPO; RegistrationError (2001)
    when there is none. Offered parties the operator did not register are ignored."""
    found = {party(r.country_code, r.party_id) for r in offered if r.role == "CPO"}
    kept = found & set(registered)
    if not kept:
        expected = ", ".join(party_code(p) for p in sorted(registered)) or "none yet"
        raise RegistrationError(
            400,
            INVALID_PARAMETERS,
            "$.roles: expected role CPO for at least one of the parties registered for this"
            f" CPO ({expected})",
        )
    return kept


async def add_cpo(pool: Pool, name: str, parties: Collection[Party]) -> str:
    """An operator adds a CPO with the parties it may push for (upper case), or adds parties
    to a CPO that is not registered: its token A, shown once. cpos.CpoConflict when a party
    is another CPO's or the CPO is registered."""
    return await cpos.create_cpo(pool, name, parties)


async def issue_token_a(pool: Pool, name: str) -> str:
    """A fresh token A, for a CPO to register again after it unregistered; cpos.UnknownCpo,
    or cpos.CpoConflict when it is registered."""
    return await cpos.renew_token_a(pool, name)


async def register(registry: Registry, cpo: str, offered: Credentials) -> Credentials:
    """POST credentials, with token A: read the CPO's API with its token B, keep its
    endpoints, answer with our credentials and its new token C; token A stops working."""
    return await _registered(registry, cpo, offered, first=True)


async def reregister(
    registry: Registry, cpo: str, offered: Credentials, use: TokenUse
) -> Credentials:
    """PUT credentials, with token C: the same, for a registered CPO; its old token C's stop
    working at once."""
    _require_token_c(cpo, use)
    return await _registered(registry, cpo, offered, first=False)


async def unregister(registry: Registry, cpo: str, use: TokenUse) -> None:
    """DELETE credentials, with token C: every token C and the CPO's token B are gone."""
    _require_token_c(cpo, use)
    if not await cpos.store_unregistration(registry.pool, cpo):
        raise _wrong_state(cpo, first=False)


def _require_token_c(cpo: str, use: TokenUse) -> None:
    """Token A never changes a registration: an ingest that has not yet heard that token A
    went (a NOTIFY away) would otherwise let it re-register or unregister the CPO."""
    if use != "ocpi":
        raise _wrong_state(cpo, first=False)


async def _registered(
    registry: Registry, name: str, offered: Credentials, first: bool
) -> Credentials:
    cpo = await cpos.read_cpo(registry.pool, name)
    if cpo is None or (cpo.state == "registered") == first:
        raise _wrong_state(name, first)
    pushing_parties(offered.roles, {parse_party(code) for code in cpo.parties})
    try:
        details = await version_details_of(offered.url, offered.token, registry.allow_private_urls)
    except CpoApiError as exc:
        await cpos.note_error(registry.pool, name, exc.message)
        raise RegistrationError(400, exc.status_code, exc.message) from None
    token = await cpos.store_registration(
        registry.pool, name, offered.url, details.version, offered.token, details.endpoints,
        offered.roles, first,
    )  # fmt: skip
    if token is None:  # another request of the same CPO changed its state meanwhile
        raise _wrong_state(name, first)
    return our_credentials(registry, token)


def _wrong_state(cpo: str, first: bool) -> RegistrationError:
    if first:
        message = f"CPO {cpo} is registered already: update its credentials with PUT"
    else:
        message = f"CPO {cpo} is not registered: register with POST and token A"
    return RegistrationError(405, CLIENT_ERROR, message)


async def rotate_token_c(pool: Pool, name: str, grace: timedelta) -> str:
    """A new token C for a registered CPO; its current ones keep working for `grace`."""
    cpo = await cpos.read_cpo(pool, name)
    if cpo is None:
        raise cpos.UnknownCpo(name)
    if cpo.state != "registered":
        raise cpos.CpoConflict(
            f"CPO {name} is {cpos.STATE_NAMES[cpo.state]}: token C is issued when it registers"
        )
    token = await rotate_token(pool, name, grace, use="ocpi")
    if token is None:
        raise cpos.UnknownCpo(name)
    return token


async def revoke(pool: Pool, name: str) -> int:
    """Every token of the CPO stops working now (token A, token C, and any callback token of
    the same provider); its state stays, so `rotate_token_c` can issue a new token C."""
    if await cpos.read_cpo(pool, name) is None:
        raise cpos.UnknownCpo(name)
    return await revoke_tokens(pool, name)
