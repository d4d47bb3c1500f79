"""Bearer tokens on the HTTP edge: a provider's (looked up in providers.tokens' table) or the
admin token, each route asking for one kind."""

import hmac

from aiohttp import web

from chargehook.ingest.errors import ApiError
from chargehook.providers.tokens import TokenTable


def bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Missing bearer token: send `Authorization: Bearer <token>`")
    token = token.strip()
    # every token chargehook issues is printable ASCII; other bytes cannot be one of them
    if not (token.isascii() and token.isprintable()):
        raise ApiError(401, "Unknown token")
    return token


def is_admin(token: str, admin_token: str | None) -> bool:
    return admin_token is not None and hmac.compare_digest(token.encode(), admin_token.encode())


async def require_provider(
    request: web.Request, tokens: TokenTable, admin_token: str | None
) -> str:
    token = bearer(request)
    provider = await tokens.provider_for(token)
    if provider is not None:
        return provider
    if is_admin(token, admin_token):
        raise ApiError(403, "The admin token cannot post sessions; use a provider token")
    raise ApiError(401, "Unknown token")


async def require_admin(request: web.Request, tokens: TokenTable, admin_token: str | None) -> None:
    token = bearer(request)
    if is_admin(token, admin_token):
        return
    if await tokens.provider_for(token) is not None:
        raise ApiError(403, "A provider token cannot use the admin API")
    raise ApiError(401, "Unknown token")
