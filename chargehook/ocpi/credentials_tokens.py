"""The OCPI `Authorization: Token ...` header (transport_and_format.asciidoc, docs/ocpi.md#tokens).

OCPI 2.2.1 sends the credentials token Base64-encoded; many 2.1.1-style senders send it raw.
Both are read: the header yields the candidates in the order they are tried, and the first one
chargehook knows wins. A token chargehook issues is printable ASCII without whitespace.
"""

import base64
import binascii

SCHEME = "token"
MAX_HEADER_CHARS = 512


def candidates(header: str | None) -> list[str]:
    """The tokens an `Authorization` header may carry: decoded from Base64 first, then raw.

    A decoded token loses one trailing newline (`echo token | base64` encodes one, as the
    spec's own example does). Empty when the header is missing or of another scheme."""
    if header is None or len(header) > MAX_HEADER_CHARS:
        return []
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != SCHEME or not value:
        return []
    found = [token for token in (_decoded(value), value) if token and _plausible(token)]
    return list(dict.fromkeys(found))


def _decoded(value: str) -> str | None:
    try:
        text = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return text.removesuffix("\n").removesuffix("\r")


def _plausible(token: str) -> bool:
    return token.isascii() and token.isprintable() and " " not in token


def encoded(token: str) -> str:
    """The header value chargehook sends with a CPO's token B: `Token <Base64>`."""
    return "Token " + base64.b64encode(token.encode()).decode()
