"""The operators' OCPI CPOs (docs/api.md#ocpi-cpos): add one with its parties and get its token
A, list them, read one. Admin token only; token B is never shown."""

import msgspec
from aiohttp import web

from chargehook.ingest.context import admin, json_response, read_json
from chargehook.ingest.errors import ApiError
from chargehook.ocpi import cpos, registering
from chargehook.ocpi.parties import parse_party
from chargehook.schemas.ocpi_cpos import CpoCreated, NewCpo

new_decoder = msgspec.json.Decoder(NewCpo)


async def create(request: web.Request) -> web.Response:
    ingest = await admin(request)
    new = await read_json(request, new_decoder)
    parties = {parse_party(code) for code in new.parties}  # the schema's pattern holds
    try:
        token = await registering.add_cpo(ingest.pool, new.name, parties)
    except cpos.CpoConflict as exc:
        raise ApiError(409, str(exc)) from None
    versions_url = registering.versions_url(ingest.registry.public_url)
    return json_response(CpoCreated(name=new.name, token_a=token, versions_url=versions_url), 201)


async def list_all(request: web.Request) -> web.Response:
    ingest = await admin(request)
    return json_response(await cpos.list_cpos(ingest.pool))


async def read(request: web.Request) -> web.Response:
    ingest, name = await admin(request), request.match_info["name"]
    found = await cpos.read_cpo(ingest.pool, name)
    if found is None:
        raise ApiError(404, f"No CPO {name!r}")
    return json_response(found)
