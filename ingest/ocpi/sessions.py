"""The Sessions receiver (mod_sessions.asciidoc, docs/ocpi.md#sessions): a CPO
PUTs a Session or PATCHes it at `/ocpi/2.2.1/sessions/{country_code}/{party_id}/{session_id}`
with its token C, and GETs the Session as merged from what it pushed.

A push is checked and published here, never stored: the ocpi worker stores it and merges the
Session. So the answer is 200 once the broker confirmed the push, never 201 (ingest cannot
know whether the Session is new), with `data` null.
"""

from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from aiohttp import web

from chargehook.ingest.context import INGEST
from chargehook.ingest.ocpi.auth import REGISTERED, require_cpo
from chargehook.ingest.ocpi.envelope import OcpiError, ocpi_response, read_ocpi
from chargehook.ingest.ocpi.pushes import (
    BASE,
    address,
    own_address,
    push_refused,
    require_party,
    stored,
)
from chargehook.ocpi.pushing import accept_push, new_push
from chargehook.ocpi.store import stored_session
from chargehook.schemas import PushKind
from chargehook.schemas.ocpi import Session, SessionPatch, session_decoder, session_patch_decoder
from chargehook.schemas.ocpi_transport import INVALID_PARAMETERS

PATH = BASE + "/sessions/{country_code}/{party_id}/{session_id}"
Pushed = TypeVar("Pushed", Session, SessionPatch)


async def put_session(request: web.Request) -> web.Response:
    """A new or updated Session: it replaces the one at this URL (mod_sessions PUT)."""
    return await _push(request, "session_put", session_decoder)


async def patch_session(request: web.Request) -> web.Response:
    """Some fields of a Session, always with `last_updated` (mod_sessions PATCH)."""
    return await _push(request, "session_patch", session_patch_decoder)


async def get_session(request: web.Request) -> web.Response:
    """The Session as merged from its pushes; 404 before its first PUT is stored."""
    ingest, found = await own_address(request, "Session", "session_id")
    return stored(request, "Session", found, await stored_session(ingest.pool, *found))


async def _push(
    request: web.Request, kind: PushKind, decoder: msgspec.json.Decoder[Pushed]
) -> web.Response:
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, REGISTERED)
    async with push_refused(request, caller):
        country_code, party_id, session_id = address(request, "session_id")
        require_party(request, caller.cpo, country_code, party_id)
        pushed, body = await read_ocpi(request, decoder)
        _check_against_the_url(pushed, country_code, party_id, session_id)
        received_at = datetime.now(UTC)
        push = new_push(caller.cpo, kind, country_code, party_id, session_id,
                        pushed.last_updated, body, received_at)  # fmt: skip
        await accept_push(ingest.accepting, push)
    return ocpi_response(request)


def _check_against_the_url(
    pushed: Session | SessionPatch, country_code: str, party_id: str, session_id: str
) -> None:
    """The body's country_code and party_id, where it has them, are the URL's (CiString:
    compared case-insensitively, stored upper case), and its id is the URL's exactly (ids are
    kept as sent); 400 with 2001 naming the one that is not."""
    for field, in_url in (("country_code", country_code), ("party_id", party_id)):
        in_body = getattr(pushed, field)
        if isinstance(in_body, str) and in_body.upper() != in_url.upper():
            raise _disagreeing(field, in_url, in_body)
    if isinstance(pushed.id, str) and pushed.id != session_id:
        raise _disagreeing("id", session_id, pushed.id)


def _disagreeing(field: str, in_url: str, in_body: str) -> OcpiError:
    message = f"$.{field}: Expected {in_url!r} as in the URL, got {in_body!r}"
    return OcpiError(400, INVALID_PARAMETERS, message)
