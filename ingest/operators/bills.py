"""The bills ledger, a page at a time (docs/api.md#bills): admin token only."""

from aiohttp import web

from chargehook.billing import export
from chargehook.billing.export_format import BadParameter, page_asked
from chargehook.ingest.context import admin, json_response
from chargehook.ingest.errors import ApiError


async def list_bills(request: web.Request) -> web.Response:
    """Bills by (billed_at, id), filtered by `since`, `until`, `provider`, `kind`; `limit` of
    them past `after`, the `next` of the page before."""
    ingest = await admin(request)
    try:
        asked = page_asked(request.query.items())
    except BadParameter as exc:
        raise ApiError(400, str(exc)) from None
    try:
        return json_response(await export.bills_page(ingest.pool, asked))
    except export.UnknownBill:
        raise ApiError(400, f"after: No bill {asked.after}; use the `next` of a page") from None
