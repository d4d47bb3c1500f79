"""Every answer on an `/ocpi/` route in the OCPI envelope `{data, status_code, status_message,
timestamp}`, errors included, with `X-Request-ID` and `X-Correlation-ID` echoed
(transport_and_format.asciidoc, status_codes.asciidoc; docs/ocpi.md#transport)."""

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
import structlog
from aiohttp import web

from chargehook.ingest.context import plain_json
from chargehook.ingest.errors import ApiError, message_for
from chargehook.plumbing.errors import RetryLater
from chargehook.plumbing.faults import is_infrastructure
from chargehook.schemas.ocpi_transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    SUCCESS,
    Response,
)
from chargehook.sessions.intake import explain

T = TypeVar("T")
PREFIX = "/ocpi/"
ECHOED = ("X-Request-ID", "X-Correlation-ID")
MAX_ECHOED_CHARS = 255
RETRY_AFTER_SECONDS = "5"
log = structlog.get_logger("chargehook.ingest")
encoder = msgspec.json.Encoder(decimal_format="number")


class OcpiError(Exception):
    """Answer with this HTTP status and OCPI status code instead of a result."""

    def __init__(
        self,
        http_status: int,
        status_code: int,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status, self.status_code, self.message = http_status, status_code, message
        self.headers = dict(headers or {})


def is_ocpi(request: web.Request) -> bool:
    return request.path.startswith(PREFIX)


def ocpi_response(
    request: web.Request,
    data: object = None,
    *,
    http_status: int = 200,
    status_code: int = SUCCESS,
    message: str = "Success",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    envelope = Response(
        data=data, status_code=status_code, status_message=message, timestamp=datetime.now(UTC)
    )
    return web.Response(
        status=http_status,
        body=encoder.encode(envelope),
        content_type="application/json",
        headers={**echoed(request), **(headers or {})},
    )


def echoed(request: web.Request) -> dict[str, str]:
    """The request's ids, to be returned as they came; one the sender left out is made up."""
    ids = {}
    for name in ECHOED:
        value = request.headers.get(name, "")
        plausible = 0 < len(value) <= MAX_ECHOED_CHARS and value.isascii() and value.isprintable()
        ids[name] = value if plausible else made_up_id()
    return ids


def made_up_id() -> str:
    """A random UUID (version 4) as text, as `str(uuid.uuid4())` makes it at a third of the
    cost (the `UUID` object is most of it): every answer to a sender without the ids makes two."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def ocpi_error(exc: Exception, request: web.Request) -> web.Response:
    """The envelope for a fault raised on an OCPI route, as `errors.shaped` is for the others."""
    if isinstance(exc, OcpiError):
        return _refused(request, exc.http_status, exc.status_code, exc.message, exc.headers)
    if isinstance(exc, ApiError):  # raised by shared helpers (a body's type, a control char)
        return _refused(request, exc.status, _code_of(exc.status), exc.message, exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return _refused(request, exc.status, _code_of(exc.status), message_for(exc, request))
    if is_infrastructure(exc):
        log.warning("dependency unavailable", path=request.path, error=repr(exc))
        what = "broker" if isinstance(exc, RetryLater) else "database"
        message = f"The {what} is unavailable; retry shortly"
        return _refused(request, 503, SERVER_ERROR, message, {"Retry-After": RETRY_AFTER_SECONDS})
    log.error("unhandled fault", method=request.method, path=request.path, exc_info=exc)
    return _refused(request, 500, SERVER_ERROR, "Internal server error")


def _refused(
    request: web.Request,
    http_status: int,
    status_code: int,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    return ocpi_response(
        request, None, http_status=http_status, status_code=status_code, message=message,
        headers=headers,
    )  # fmt: skip


def _code_of(http_status: int) -> int:
    """A bad request, a body too large (aiohttp's own 413 too) or of another type: 2001."""
    if http_status in (400, 413, 415):
        return INVALID_PARAMETERS
    return SERVER_ERROR if http_status >= 500 else CLIENT_ERROR


async def read_ocpi(request: web.Request, decoder: msgspec.json.Decoder[T]) -> tuple[T, bytes]:
    """The body decoded, and its bytes; 400 with status 2001 naming the field when it is bad."""
    body = await plain_json(request)
    try:
        return decoder.decode(body), body
    except msgspec.ValidationError as exc:
        raise OcpiError(400, INVALID_PARAMETERS, explain(exc, "$")) from None
    except msgspec.DecodeError as exc:
        raise OcpiError(400, INVALID_PARAMETERS, f"Body is not valid JSON: {exc}") from None
    except RecursionError:
        raise OcpiError(400, INVALID_PARAMETERS, "$: Expected JSON nested less deeply") from None
