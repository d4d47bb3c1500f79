"""Providers: their names, their tokens, and the rates they bill at until they set their own."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from chargehook.schemas import PROVIDER_NAME_PATTERN

TOKEN_PREFIX = "chp_"  # noqa: S105 - a prefix that marks a token, not a secret
PROVIDER_NAME = re.compile(PROVIDER_NAME_PATTERN)


@dataclass(frozen=True)
class Rates:
    """What a provider's bills charge on top of the subtotal (docs/billing.md)."""

    commission: Decimal = Decimal("0.10")
    tax: Decimal = Decimal("0.21")


DEFAULT_RATES = Rates()


def hash_token(token: str) -> bytes:
    # Tokens are 256 random bits, so a fast digest is enough; no password-style stretching.
    return hashlib.sha256(token.encode()).digest()


# What a token may do (docs/api.md#authentication, docs/ocpi.md#tokens): post the page-shaped
# callbacks, register over OCPI (token A) or push over OCPI once registered (token C).
TokenUse = Literal["callbacks", "ocpi_registration", "ocpi"]


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
