"""Who is calling an OCPI route: a CPO, by its credentials token in `Authorization: Token`,
Base64-encoded or raw (docs/ocpi.md#tokens). Token A only reads versions and registers; token C
does everything else."""

from collections.abc import Collection
from dataclasses import dataclass

from aiohttp import web

from chargehook.ingest.ocpi.envelope import OcpiError
from chargehook.ocpi.credentials_tokens import candidates
from chargehook.providers.rules import TokenUse
from chargehook.providers.tokens import TokenTable
from chargehook.schemas.ocpi_transport import CLIENT_ERROR

REGISTRATION: frozenset[TokenUse] = frozenset({"ocpi_registration"})
REGISTERED: frozenset[TokenUse] = frozenset({"ocpi"})
EITHER: frozenset[TokenUse] = REGISTRATION | REGISTERED


@dataclass(frozen=True)
class Caller:
    cpo: str
    use: TokenUse
    token: str  # as the CPO sent it, decoded: what GET credentials answers with


async def require_cpo(
    request: web.Request, tokens: TokenTable, uses: Collection[TokenUse]
) -> Caller:
    """The calling CPO, whose token is of one of `uses`; 401 in the envelope otherwise."""
    found = candidates(request.headers.get("Authorization"))
    if not found:
        raise OcpiError(
            401, CLIENT_ERROR, "Missing credentials token: send `Authorization: Token <token>`"
        )
    for token in found:
        owner = await tokens.owner_of(token)
        if owner is None:
            continue
        if owner.use not in uses:
            raise OcpiError(401, CLIENT_ERROR, _wrong_use(owner.use))
        return Caller(owner.provider, owner.use, token)
    raise OcpiError(401, CLIENT_ERROR, "Unknown credentials token")


def _wrong_use(use: TokenUse) -> str:
    if use == "ocpi_registration":
        return "A registration token (token A) only reads versions and registers; use token C"
    if use == "ocpi":
        return "This token (token C) is registered already; registration needs token A"
    return "A provider's callback token cannot call OCPI routes; use the CPO's credentials token"
