"""The credentials module (credentials.asciidoc): GET our credentials with token C; POST to
register with token A, PUT to re-register and DELETE to unregister with token C. Whether the
CPO may (405 otherwise) is the registering use case's to say (its state, and token C for a
change), so POST, PUT and DELETE take either token."""

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from aiohttp import web

from chargehook.ingest.context import INGEST
from chargehook.ingest.ocpi.auth import EITHER, REGISTERED, Caller, require_cpo
from chargehook.ingest.ocpi.envelope import OcpiError, ocpi_response, read_ocpi
from chargehook.ocpi import registering
from chargehook.ocpi.registering import RegistrationError, Registry
from chargehook.schemas.ocpi_transport import Credentials, credentials_decoder

Registers = Callable[[Registry, Caller, Credentials], Awaitable[Credentials]]


@contextmanager
def registration_refused() -> Iterator[None]:
    try:
        yield
    except RegistrationError as exc:
        raise OcpiError(exc.http_status, exc.status_code, exc.message) from None


async def get_credentials(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, REGISTERED)
    return ocpi_response(request, registering.our_credentials(ingest.registry, caller.token))


async def post_credentials(request: web.Request) -> web.Response:
    return await offered(request, lambda registry, caller, offered: registering.register(
        registry, caller.cpo, offered))  # fmt: skip


async def put_credentials(request: web.Request) -> web.Response:
    return await offered(request, lambda registry, caller, offered: registering.reregister(
        registry, caller.cpo, offered, caller.use))  # fmt: skip


async def offered(request: web.Request, registers: Registers) -> web.Response:
    """The CPO's credentials, registered (POST) or registered again (PUT): our own in answer."""
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, EITHER)
    credentials, _ = await read_ocpi(request, credentials_decoder)
    with registration_refused():
        ours = await registers(ingest.registry, caller, credentials)
    return ocpi_response(request, ours)


async def delete_credentials(request: web.Request) -> web.Response:
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, EITHER)
    with registration_refused():
        await registering.unregister(ingest.registry, caller.cpo, caller.use)
    return ocpi_response(request)
