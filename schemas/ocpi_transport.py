"""OCPI 2.2.1 transport objects: the response envelope, versions, endpoints and credentials.

From the specification at tag v2.2.1-d2: transport_and_format.asciidoc (the response format),
status_codes.asciidoc, version_information_endpoint.asciidoc, credentials.asciidoc and
mod_locations.asciidoc (BusinessDetails, Image). Unknown fields are skipped, as everywhere.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from chargehook.schemas.ocpi import CountryCode, Ocpi, PartyId, string

VERSION = "2.2.1"
Role = Literal["CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"]
InterfaceRole = Literal["SENDER", "RECEIVER"]
ModuleId = Literal[
    "cdrs", "chargingprofiles", "commands", "credentials", "hubclientinfo", "locations",
    "sessions", "tariffs", "tokens",
]  # fmt: skip
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=255, pattern=r"^https?://[^\s]+$")]
# credentials.asciidoc: printable non-whitespace ASCII, U+0021 to U+007E, at most 64.
CredentialsToken = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[!-~]+$")]

# status_codes.asciidoc
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
SERVER_ERROR = 3000
UNABLE_TO_USE_CLIENT_API = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003


class Response(msgspec.Struct, kw_only=True):
    """Every answer on an OCPI route, errors included (transport_and_format.asciidoc)."""

    data: Any = None
    status_code: int
    status_message: str | None = None
    timestamp: datetime


class Version(Ocpi, kw_only=True):
    version: Annotated[str, string(10, 1)]
    url: Url


class Endpoint(Ocpi, kw_only=True):
    identifier: Annotated[str, string(32, 1)]  # a ModuleID; unknown modules are kept, not refused
    role: InterfaceRole
    url: Url


class VersionDetails(Ocpi, kw_only=True):
    version: Annotated[str, string(10, 1)]
    endpoints: list[Endpoint]


class Image(Ocpi, kw_only=True):
    url: Url
    thumbnail: Url | None = None
    category: Annotated[str, string(32, 1)]
    type: Annotated[str, string(4, 1)]
    width: int | None = None
    height: int | None = None


class BusinessDetails(Ocpi, kw_only=True):
    name: Annotated[str, string(100, 1)]
    website: Url | None = None
    logo: Image | None = None


class CredentialsRole(Ocpi, kw_only=True):
    role: Role
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


class Credentials(Ocpi, kw_only=True):
    token: CredentialsToken
    url: Url
    roles: Annotated[list[CredentialsRole], msgspec.Meta(min_length=1)]


credentials_decoder = msgspec.json.Decoder(Credentials)
