"""From a request body to confirmed-ready envelopes: split, validate, name each event.

Pure functions, so the rules of docs/api.md are tested without a server.
"""

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import msgspec

from chargehook.schemas import Envelope, Session

MAX_BODY_BYTES = 1 << 20
MAX_ITEMS = 500
MAX_IDEMPOTENCY_KEY = 255

one_item = msgspec.json.Decoder(msgspec.Raw)
many_items = msgspec.json.Decoder(list[msgspec.Raw])
session_decoder = msgspec.json.Decoder(Session)
canonical_reader = msgspec.json.Decoder(float_hook=Decimal)
canonical_writer = msgspec.json.Encoder(order="sorted", decimal_format="number")
envelope_encoder = msgspec.json.Encoder()

_MSGSPEC_ERROR = re.compile(
    r"^(?P<what>.*?)(?: - at field `(?P<field>[^`]+)`)?(?: - at `(?P<path>[^`]*)`)?$", re.S
)


class BadInput(Exception):
    """The body breaks the contract; the message says where and what was expected."""


@dataclass(frozen=True)
class Item:
    raw: msgspec.Raw
    session: Session


def split_body(body: bytes) -> tuple[list[msgspec.Raw], bool]:
    """The body's items, raw, and whether it was an array."""
    is_array = body.lstrip()[:1] == b"["
    try:
        items = many_items.decode(body) if is_array else [one_item.decode(body)]
    except msgspec.DecodeError as exc:
        raise BadInput(f"Body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadInput("$: Expected JSON nested less deeply") from None
    if not items:
        raise BadInput("$: Expected an array of 1 to 500 session objects, got an empty array")
    if len(items) > MAX_ITEMS:
        raise BadInput(f"$: Expected at most {MAX_ITEMS} session objects, got {len(items)}")
    return items, is_array


def validate(items: list[msgspec.Raw], is_array: bool) -> list[Item]:
    """All or nothing: every bad item is named, and one bad item fails the whole body."""
    valid: list[Item] = []
    problems: list[str] = []
    for index, raw in enumerate(items):
        try:
            valid.append(Item(raw, session_decoder.decode(raw)))
        except msgspec.ValidationError as exc:
            problems.append(explain(exc, f"$[{index}]" if is_array else "$"))
    if problems:
        raise BadInput("; ".join(problems))
    return valid


def explain(exc: msgspec.ValidationError, root: str) -> str:
    """msgspec's message as `<path>: <what was expected>`, the path rooted at the item."""
    match = _MSGSPEC_ERROR.match(str(exc))
    assert match is not None  # the pattern matches any text
    path = (match["path"] or "$").removeprefix("$")
    if match["field"]:
        path += "." + match["field"]
    return f"{root}{path}: {match['what']}"


def event_id(provider: str, raw: msgspec.Raw) -> str:
    """The same callback from the same provider always gets the same id, whatever its key order."""
    digest = hashlib.sha256(provider.encode() + b"\n" + canonical(raw)).hexdigest()
    return "evt_" + digest[:40]


def canonical(raw: msgspec.Raw | bytes) -> bytes:
    """The item's canonical JSON: keys sorted at every level, no whitespace, numbers' own text.

    BadInput where it is too deep or has a number too long to take apart."""
    try:
        return canonical_writer.encode(canonical_reader.decode(raw))
    except RecursionError:
        raise BadInput("$: Expected JSON nested less deeply") from None
    except (msgspec.MsgspecError, ValueError) as exc:
        raise BadInput(f"$: Expected numbers of fewer digits ({exc})") from None


def check_idempotency_key(key: str | None, count: int) -> str | None:
    if key is None:
        return None
    if count != 1:
        raise BadInput("Idempotency-Key names one event; send it with a single session object")
    # ASCII, so that it fits the message id (255 bytes) it becomes on the broker
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not (key.isascii() and key.isprintable()):
        raise BadInput(
            f"Idempotency-Key: Expected 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters"
        )
    return key


def envelope(provider: str, item: Item, received_at: datetime, key: str | None) -> Envelope:
    return Envelope(
        event_id=key or event_id(provider, item.raw),
        provider=provider,
        received_at=received_at,
        session=item.raw,
    )
