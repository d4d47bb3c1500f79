"""OCPI Session pushes built from our documents (tests/fixtures/ocpi): what the merge and the
mapping tests share. A push's body carries the last_updated it is ordered by, as a CPO's does."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

from chargehook.ocpi.merge import Push

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ocpi"
# Documents are edited as JSON values; their numbers stay Decimal so their text is kept.
plain = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
encode = msgspec.json.Encoder(decimal_format="number").encode
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def document(name: str) -> dict[str, Any]:
    return plain.decode(raw(name))


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def stamp(minute: int) -> str:
    return at(minute).strftime("%Y-%m-%dT%H:%M:%SZ")


def put(minute: int, doc: dict[str, Any], push_id: str = "") -> Push:
    body = encode({**doc, "last_updated": stamp(minute)})
    return Push("PUT", at(minute), push_id or f"put-{minute}", body)


def patch(minute: int, fields: dict[str, Any], push_id: str = "") -> Push:
    body = encode({**fields, "last_updated": stamp(minute)})
    return Push("PATCH", at(minute), push_id or f"patch-{minute}", body)


def as_document(merged: bytes | None) -> dict[str, Any]:
    assert merged is not None
    return plain.decode(merged)
