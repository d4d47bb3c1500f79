"""The operators' look at the books (docs/api.md#the-books): a UTC day's reconciliation per
provider and a session's bill chain. Admin token only."""

from aiohttp import web

from chargehook.billing import reconciling
from chargehook.billing.books import parse_day
from chargehook.ingest.context import admin, json_response
from chargehook.ingest.errors import ApiError
from chargehook.providers.rules import PROVIDER_NAME


async def get_reconciliation(request: web.Request) -> web.Response:
    """`?day=YYYY-MM-DD[&provider=P]`: the day's finals and credits, per provider."""
    ingest = await admin(request)
    query = request.query
    try:
        day = parse_day(query.get("day"))
    except ValueError as exc:
        raise ApiError(400, f"day: {exc}") from None
    provider = query.get("provider")
    if provider is not None and not PROVIDER_NAME.fullmatch(provider):
        raise ApiError(
            400, f"provider: Expected a provider name (a-z, 0-9, '-', '_'), got {provider!r}"
        )
    return json_response(await reconciling.reconcile(ingest.pool, day, provider))


async def get_session_bills(request: web.Request) -> web.Response:
    """The session's every bill in id order, with its billed total."""
    ingest = await admin(request)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    chain = await reconciling.session_bills(ingest.pool, provider, session_id)
    if chain is None:
        raise ApiError(404, f"No bill of session {session_id!r} from provider {provider!r}")
    return json_response(chain)
