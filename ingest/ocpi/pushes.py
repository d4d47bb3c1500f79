"""What the OCPI face's Session and CDR routes share (docs/ocpi.md#transport): an
object's address in the URL checked as the schema types it, the party checked against the
caller's, a stored object answered or 404, and a push's refusals answered in OCPI's terms and
logged and noted on the CPO (its last error, for operators).

A party that is not one of the caller's is refused with 403 on a push (the CPO learns what is
wrong) and answered 404 on a read, as for an object that does not exist (transport_and_format:
a server may answer 404 to block access to objects that do not belong to the client).
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, get_args

import msgspec
import structlog
from aiohttp import web

from chargehook.ingest.context import INGEST, RETRY_AFTER_SECONDS, Ingest
from chargehook.ingest.errors import ApiError
from chargehook.ingest.ocpi.auth import REGISTERED, Caller, require_cpo
from chargehook.ingest.ocpi.envelope import OcpiError, ocpi_response
from chargehook.ocpi import cpos
from chargehook.ocpi.cdr_pushes import CdrChanged, CdrRefused
from chargehook.schemas.contract import Document
from chargehook.schemas.ocpi import CI_PRINTABLE, CountryCode, PartyId, ci_string
from chargehook.schemas.ocpi_transport import CLIENT_ERROR, INVALID_PARAMETERS, SERVER_ERROR
from chargehook.sessions.accepting import NotConfirmed, OverRate
from chargehook.sessions.intake import BadInput

log = structlog.get_logger("chargehook.ingest")
BASE = "/ocpi/2.2.1"
# A URL's parts as the objects type them (mod_sessions, mod_cdrs): an id is never empty there.
PATH_TYPES: dict[str, object] = {
    "country_code": CountryCode,
    "party_id": PartyId,
    "session_id": Annotated[str, ci_string(36, 1)],
    "cdr_id": Annotated[str, ci_string(39, 1)],  # 39: a credit CDR's id
}
Address = tuple[str, str, str]  # (country_code, party_id) upper case, and the object's id


def _lengths(name: str) -> tuple[int, int]:
    """A part's least and most characters, from its type: a CiString with both."""
    (meta,) = get_args(PATH_TYPES[name])[1:]
    if isinstance(meta, msgspec.Meta) and meta.pattern == CI_PRINTABLE:
        if meta.min_length is not None and meta.max_length is not None:
            return meta.min_length, meta.max_length
    raise TypeError(f"URL {name}: surely_typed knows CiStrings of bounded length only")


LENGTHS = {name: _lengths(name) for name in PATH_TYPES}  # for `surely_typed`


def path_schemas(*names: str) -> tuple[tuple[str, Document], ...]:
    """The JSON Schemas of these path parameters, for the route table."""
    return tuple((name, msgspec.json.schema(PATH_TYPES[name])) for name in names)


def address(request: web.Request, id_name: str) -> Address:
    """The object's address in the URL; 400 with 2001 naming the part that is not as typed."""
    parts = []
    for name in ("country_code", "party_id", id_name):
        value = request.match_info[name]
        if not surely_typed(name, value):
            try:
                msgspec.convert(value, PATH_TYPES[name])
            except msgspec.ValidationError as exc:
                raise OcpiError(400, INVALID_PARAMETERS, f"URL {name}: {exc}") from None
        parts.append(value)
    country_code, party_id, object_id = parts
    return country_code.upper(), party_id.upper(), object_id


def surely_typed(name: str, value: str) -> bool:
    """Whether a URL part is as its type says, checked in Python: its lengths and printable
    ASCII (CI_PRINTABLE). Only a sure yes skips `msgspec.convert` (a few µs a part, on every
    push); anything else goes to it, which decides and names what is wrong."""
    least, most = LENGTHS[name]
    return least <= len(value) <= most and value.isascii() and value.isprintable()


def require_party(request: web.Request, cpo: str, country_code: str, party_id: str) -> None:
    """403 with 2000 unless the party is one of the CPO's (`Ingest.parties`, in memory)."""
    if not request.app[INGEST].parties.may_push(cpo, country_code, party_id):
        party = f"{country_code.upper()}/{party_id.upper()}"
        raise OcpiError(403, CLIENT_ERROR, f"Party {party} is not one of {cpo}'s parties")


async def own_address(request: web.Request, what: str, id_name: str) -> tuple[Ingest, Address]:
    """For a read: the caller (token C), and the address when its party is the caller's; else
    404 as for a missing object."""
    ingest = request.app[INGEST]
    caller = await require_cpo(request, ingest.tokens, REGISTERED)
    found = address(request, id_name)
    if not ingest.parties.may_push(caller.cpo, found[0], found[1]):
        raise missing(what, found)
    return ingest, found


def stored(request: web.Request, what: str, found: Address, body: bytes | None) -> web.Response:
    """The stored object as `data`, verbatim; 404 with 2000 when there is none."""
    if body is None:
        raise missing(what, found)
    return ocpi_response(request, msgspec.Raw(body))


def missing(what: str, found: Address) -> OcpiError:
    return OcpiError(404, CLIENT_ERROR, f"No {what} {'/'.join(found)}")


@asynccontextmanager
async def push_refused(request: web.Request, caller: Caller) -> AsyncIterator[None]:
    """Around a push once its CPO is known: what accepting raises, in OCPI's terms, and every
    refusal that is the CPO's (a 4xx) noted on the CPO."""
    try:
        yield
    except Exception as exc:
        refused = _in_ocpi_terms(exc)
        status, message = _status_of(refused)
        if 400 <= status < 500:
            await _note(request, caller.cpo, status, message)
        if refused is exc:
            raise
        raise refused from None


def _in_ocpi_terms(exc: Exception) -> Exception:
    if isinstance(exc, OverRate):
        message = f"{exc}; retry after {exc.wait} s"
        return OcpiError(429, CLIENT_ERROR, message, {"Retry-After": str(exc.wait)})
    if isinstance(exc, NotConfirmed):
        message = f"The broker did not confirm the push; retry after {RETRY_AFTER_SECONDS} s"
        return OcpiError(503, SERVER_ERROR, message, {"Retry-After": RETRY_AFTER_SECONDS})
    if isinstance(exc, CdrChanged):
        return OcpiError(409, CLIENT_ERROR, str(exc))
    if isinstance(exc, CdrRefused):
        return OcpiError(400, INVALID_PARAMETERS, str(exc))
    if isinstance(exc, BadInput):  # naming a push: JSON too deep, a number too long
        return OcpiError(400, INVALID_PARAMETERS, str(exc))
    return exc


def _status_of(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, OcpiError):
        return exc.http_status, exc.message
    if isinstance(exc, ApiError):
        return exc.status, exc.message
    if isinstance(exc, web.HTTPException):
        return exc.status, exc.reason
    return 500, "Internal server error"


async def _note(request: web.Request, cpo: str, status: int, message: str) -> None:
    push = f"{request.method} {request.path}"
    await cpos.note_refusal(request.app[INGEST].pool, cpo, push, status, message)
