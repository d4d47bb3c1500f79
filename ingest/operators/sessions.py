"""The operators' look at a session: its current state with its bill, its history, and an OCPI
Session's CDRs (docs/api.md#reading-sessions-back). Admin token only."""

import msgspec
from aiohttp import web

from chargehook.billing.store import read_session_bill
from chargehook.ingest.context import admin, json_response
from chargehook.ingest.errors import ApiError
from chargehook.ocpi.store import session_cdrs
from chargehook.sessions import store as sessions


async def get_session(request: web.Request) -> web.Response:
    ingest = await admin(request)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    state = await sessions.session_state(ingest.pool, provider, session_id)
    if state is None:
        raise ApiError(404, f"No session {session_id!r} from provider {provider!r}")
    billing = await read_session_bill(ingest.pool, provider, session_id)
    return json_response(msgspec.structs.replace(state, billing=billing))


async def get_session_events(request: web.Request) -> web.Response:
    ingest = await admin(request)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    events = await sessions.session_events(ingest.pool, provider, session_id)
    if not events:
        raise ApiError(404, f"No session {session_id!r} from provider {provider!r}")
    return json_response(events)


async def get_session_cdrs(request: web.Request) -> web.Response:
    """An OCPI Session's CDRs as the CPO posted them (docs/ocpi.md#cdrs); none for a session
    that is not an OCPI one."""
    ingest = await admin(request)
    provider, session_id = request.match_info["provider"], request.match_info["id"]
    found = await session_cdrs(ingest.pool, provider, session_id)
    return json_response([msgspec.Raw(cdr) for cdr in found])
