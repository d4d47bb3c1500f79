"""The CDRs receiver (mod_cdrs.asciidoc, docs/ocpi.md#cdrs): a CPO POSTs a CDR to
`/ocpi/2.2.1/cdrs` with its token C and GETs it back at the URL of the `Location` answered.

CDRs are immutable: the same CDR again is answered with the same `Location` (200 once it is
stored, 201 while it is only published), another body under a stored id is refused with 409
and nothing is published (`ocpi.cdr_pushes`).
"""

from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from chargehook.ingest.context import INGEST
from chargehook.ingest.ocpi.auth import REGISTERED, require_cpo
from chargehook.ingest.ocpi.envelope import ocpi_response, read_ocpi
from chargehook.ingest.ocpi.pushes import BASE, own_address, push_refused, require_party, stored
from chargehook.ocpi.cdr_pushes import accept_cdr
from chargehook.ocpi.pushing import new_push
from chargehook.ocpi.store import stored_cdr
from chargehook.schemas.ocpi import cdr_decoder

PATH = BASE + "/cdrs"
ONE = PATH + "/{country_code}/{party_id}/{cdr_id}"


async def post_cdr(request: web.Request) -> web.Response:
    """A new CDR: 201 with its `Location`, 200 with it when the same CDR is stored already."""
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, REGISTERED)
    async with push_refused(request, caller):
        cdr, body = await read_ocpi(request, cdr_decoder)
        require_party(request, caller.cpo, cdr.country_code, cdr.party_id)
        received_at = datetime.now(UTC)
        push = new_push(caller.cpo, "cdr", cdr.country_code, cdr.party_id, cdr.id,
                        cdr.last_updated, body, received_at)  # fmt: skip
        already = await accept_cdr(ingest.accepting, push)
    where = f"{push.country_code}/{push.party_id}/{quote(push.object_id, safe='')}"
    location = {"Location": f"{ingest.public_url}{PATH}/{where}"}
    if already:
        return ocpi_response(request, message="The CDR is stored already", headers=location)
    return ocpi_response(request, http_status=201, headers=location)


async def get_cdr(request: web.Request) -> web.Response:
    """The CDR as stored; 404 before it is stored."""
    ingest, found = await own_address(request, "CDR", "cdr_id")
    return stored(request, "CDR", found, await stored_cdr(ingest.pool, *found))
