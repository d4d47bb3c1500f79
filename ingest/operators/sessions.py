"""The operators' look at a session: its current state with its bill, and its history
(docs/api.md#reading-sessions-back). Admin token only."""

import msgspec
from aiohttp import web

from chargehook.billing.store import read_session_bill
from chargehook.ingest.context import admin, json_response
from chargehook.ingest.errors import ApiError
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
