"""Every 4xx/5xx in the webhook page's shape; a fault never shows a stack trace."""

from collections.abc import Mapping
from http import HTTPStatus

import msgspec
import structlog
from aiohttp import web

from chargehook.plumbing.errors import RetryLater
from chargehook.plumbing.faults import is_infrastructure
from chargehook.schemas import ErrorBody
from chargehook.sessions.intake import MAX_BODY_BYTES

log = structlog.get_logger("chargehook.ingest")
encoder = msgspec.json.Encoder()


class ApiError(Exception):
    """Answer the client with this status and message instead of a result."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    phrase = HTTPStatus(status).phrase
    body = encoder.encode(ErrorBody(statusCode=status, message=message, error=phrase))
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


def message_for(exc: web.HTTPException, request: web.Request) -> str:
    """What aiohttp's own refusal (no route, a method not allowed, a body too large) says."""
    if exc.status == 413:
        return f"Request body exceeds {MAX_BODY_BYTES} bytes"
    if exc.status == 404:
        return f"No route for {request.method} {request.path}"
    if exc.status == 405:
        return f"Method {request.method} is not allowed on {request.path}"
    return exc.reason


def shaped(exc: Exception, request: web.Request) -> web.Response:
    """The answer for a fault raised by a handler; a redirect is raised again as it was."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.message, exc.headers)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        return error_response(exc.status, message_for(exc, request))
    if is_infrastructure(exc):
        log.warning("dependency unavailable", path=request.path, error=repr(exc))
        what = "broker" if isinstance(exc, RetryLater) else "database"
        return error_response(
            503, f"The {what} is unavailable; retry shortly", {"Retry-After": "5"}
        )
    log.error("unhandled fault", method=request.method, path=request.path, exc_info=exc)
    return error_response(500, "Internal server error")
