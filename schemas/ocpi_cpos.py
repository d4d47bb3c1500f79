"""The operators' view of OCPI CPOs on the admin API (docs/api.md#ocpi-cpos): registering one
with its parties, and reading them back. The CPO's own token (token B) is never part of it."""

from datetime import datetime
from typing import Annotated, Literal, get_args

import msgspec

from chargehook.schemas.subscriptions import ProviderName

# A party as operators write it: country code, '-', party id (CiString: any case, kept upper).
PARTY_PATTERN = r"^[A-Za-z0-9]{2}-[A-Za-z0-9]{3}$"
PartyCode = Annotated[str, msgspec.Meta(pattern=PARTY_PATTERN, examples=["ES-ABC"])]
CpoState = Literal["token_a_issued", "registered", "unregistered"]
CPO_STATES: tuple[CpoState, ...] = get_args(CpoState)


class NewCpo(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/ocpi/cpos: a CPO and the parties it may push for, or more parties for one that
    is not registered (a fresh token A replaces the earlier one)."""

    name: ProviderName
    parties: Annotated[list[PartyCode], msgspec.Meta(min_length=1, max_length=100)]


class CpoCreated(msgspec.Struct, kw_only=True):
    """The only answer that shows token A: give it and `versions_url` to the CPO."""

    name: str
    token_a: str
    versions_url: str


class CpoEndpoint(msgspec.Struct, kw_only=True):
    """One of the CPO's endpoints, from its version details."""

    identifier: str
    role: str
    url: str


class Cpo(msgspec.Struct, kw_only=True):
    name: str
    state: CpoState
    parties: list[str]  # "ES-ABC", sorted
    versions_url: str | None  # the CPO's, from its credentials
    version: str | None
    endpoints: list[CpoEndpoint]
    created_at: datetime
    registered_at: datetime | None
    last_push_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
