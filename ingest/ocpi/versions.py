"""GET /ocpi/versions and GET /ocpi/2.2.1 (version_information_endpoint.asciidoc): where a CPO
starts, with token A or token C."""

from aiohttp import web

from chargehook.ingest.context import INGEST
from chargehook.ingest.ocpi.auth import EITHER, require_cpo
from chargehook.ingest.ocpi.envelope import ocpi_response
from chargehook.ocpi import registering


async def get_versions(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    await require_cpo(request, ingest.tokens, EITHER)
    return ocpi_response(request, registering.versions(ingest.registry.public_url))


async def get_version_details(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    await require_cpo(request, ingest.tokens, EITHER)
    return ocpi_response(request, registering.version_details(ingest.registry.public_url))
