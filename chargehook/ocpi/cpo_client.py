"""Calling a CPO back while it registers: its versions endpoint, then its 2.2.1 version details,
with its token B (version_information_endpoint.asciidoc, credentials.asciidoc).

The URLs come from the CPO, so every call goes through the SSRF guard as a webhook does
(`check_url` before each request, the guarded resolver at connect time, no redirects followed,
CHARGEHOOK_ALLOW_PRIVATE_URLS to allow private addresses), each request within TIMEOUT (its
name's lookup included) and its body capped at MAX_BODY_BYTES.

What makes a registration fail, as credentials.asciidoc and status_codes.asciidoc name it:

- 3001 (unable to use the client's API): a URL refused by the guard, no answer in time, a
  connection error, a redirect or any non-2xx status, a body over MAX_BODY_BYTES or not the
  OCPI envelope with status 1000 and the expected data;
- 3002 (unsupported version): the CPO's versions do not include 2.2.1;
- 3003 (no matching endpoints): version details that are unusable: of another version, or
  without any endpoint. chargehook receives pushes and needs none of the CPO's modules for
  that, so a CPO missing, say, its `credentials` endpoint registers all the same; the
  endpoints it has are kept for operators to see.
"""

import asyncio
import uuid
from typing import TypeVar

import aiohttp
import msgspec

from chargehook.ocpi.credentials_tokens import encoded
from chargehook.schemas.ocpi_transport import (
    NO_MATCHING_ENDPOINTS,
    SUCCESS,
    UNABLE_TO_USE_CLIENT_API,
    UNSUPPORTED_VERSION,
    VERSION,
    Response,
    Version,
    VersionDetails,
)
from chargehook.webhooks.ssrf import UnsafeUrl, check_url, guarded_connector

T = TypeVar("T")
TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
MAX_BODY_BYTES = 1024 * 1024
envelope_decoder = msgspec.json.Decoder(Response)


class CpoApiError(Exception):
    """The CPO's API could not be used; `status_code` is the OCPI code to answer with."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code, self.message = status_code, message


async def version_details_of(
    versions_url: str, token_b: str, allow_private: bool
) -> VersionDetails:
    """The CPO's 2.2.1 version details, read with its token B from its versions URL."""
    connector = guarded_connector(allow_private)
    async with aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as http:
        found = await _get(http, versions_url, token_b, allow_private, list[Version])
        ours = [version for version in found if version.version == VERSION]
        if not ours:
            offered = ", ".join(version.version for version in found) or "none"
            raise CpoApiError(
                UNSUPPORTED_VERSION, f"The CPO's versions ({offered}) do not include {VERSION}"
            )
        details = await _get(http, ours[0].url, token_b, allow_private, VersionDetails)
    if details.version != VERSION or not details.endpoints:
        raise CpoApiError(
            NO_MATCHING_ENDPOINTS,
            f"The CPO's version details at {ours[0].url} are of version {details.version} with"
            f" {len(details.endpoints)} endpoint(s); expected {VERSION} with its endpoints",
        )
    return details


async def _get(
    http: aiohttp.ClientSession, url: str, token_b: str, allow_private: bool, kind: type[T]
) -> T:
    headers = {
        "Authorization": encoded(token_b),
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
    }
    try:
        async with asyncio.timeout(TIMEOUT.total):  # the name's lookup by check_url included
            await check_url(url, allow_private)
            async with http.get(url, headers=headers, allow_redirects=False) as answer:
                if not 200 <= answer.status < 300:
                    raise _unusable(url, f"answered HTTP {answer.status}")
                body = await _capped(answer, url)
    except UnsafeUrl as exc:
        raise _unusable(url, exc.reason) from None
    except TimeoutError:
        raise _unusable(url, f"did not answer within {TIMEOUT.total:g} s") from None
    except aiohttp.ClientError as exc:
        raise _unusable(url, f"could not be reached: {exc}") from None
    return _decoded(body, url, kind)


async def _capped(answer: aiohttp.ClientResponse, url: str) -> bytes:
    body = bytearray()
    async for chunk in answer.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _unusable(url, f"answered with a body over {MAX_BODY_BYTES} bytes")
    return bytes(body)


def _decoded(body: bytes, url: str, kind: type[T]) -> T:
    try:
        envelope = envelope_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        raise _unusable(url, "answered with something other than the OCPI envelope") from None
    if envelope.status_code != SUCCESS:
        said = f": {envelope.status_message}" if envelope.status_message else ""
        raise _unusable(url, f"answered status_code {envelope.status_code}{said}")
    try:
        return msgspec.convert(envelope.data, kind)
    except msgspec.ValidationError as exc:
        raise _unusable(url, f"answered data that is not {_name(kind)}: {exc}") from None


def _name(kind: object) -> str:
    return "a list of versions" if kind is not VersionDetails else "version details"


def _unusable(url: str, why: str) -> CpoApiError:
    return CpoApiError(UNABLE_TO_USE_CLIENT_API, f"Unable to use the CPO's API: {url} {why}")
