"""The validation corpus: bodies that break docs/api.md#validation and what each is told.

One list, run twice: on the intake functions alone (tests/unit/test_intake.py) and through the
HTTP edge against the real broker (tests/integration/test_ingest_http.py), which adds the 400
and its shape.
"""

from typing import Any, NamedTuple

import msgspec

from tests.support import at, event


def good(**changes: Any) -> dict[str, Any]:
    """A valid session; each bad case changes one thing in it."""
    item = event("s-1", "FINISHED", 10, started=at(0), finished=at(10), plug_price=0.45)
    item["charger"] = {"lat": 40.4, "lon": -3.7, "chargerDetails": [{"accessPrice": 1.0}]}
    item.update(changes)
    return item


def nested(**charger: Any) -> dict[str, Any]:
    return good(charger={"lat": 40.4, "lon": -3.7, **charger})


class Bad(NamedTuple):
    name: str
    body: Any  # encoded as JSON and posted as the whole body; bytes are posted as they are
    field: str  # the path the message must name: "$.id", "$[1].charger.lat"; "$" is the body
    message: str  # how the message starts


def encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else msgspec.json.encode(body)


def names_field(message: str, field: str) -> bool:
    """The message is about `field`: it is the path before the colon, or, for a missing field,
    the path is its parent and the text names it."""
    where, _, what = message.partition(": ")
    if where == field:
        return True
    parent, _, leaf = field.rpartition(".")
    return where == parent and f"missing required field `{leaf}`" in what


BAD_INPUT = [
    Bad("id missing", {"status": "FINISHED"}, "$.id", "$: Object missing required field `id`"),
    Bad("id empty", good(id=""), "$.id", "$.id: Expected `str` of length >= 1"),
    Bad("id not a string", good(id=7), "$.id", "$.id: Expected `str`, got `int`"),
    Bad("status missing", {"id": "s-1"}, "$.status", "$: Object missing required field `status`"),
    Bad("status unknown", good(status="DONE"), "$.status", "$.status: Invalid enum value 'DONE'"),
    Bad(
        "price_unit unknown",
        good(price_unit="litre"),
        "$.price_unit",
        "$.price_unit: Invalid enum value 'litre'",
    ),
    Bad(
        "charged_kwh negative",
        good(charged_kwh=-1),
        "$.charged_kwh",
        "$.charged_kwh: Expected a number from 0 to 1000000",
    ),
    Bad(
        "power_kw negative",
        good(power_kw=-0.5),
        "$.power_kw",
        "$.power_kw: Expected `float` >= 0.0",
    ),
    Bad(
        "co2_saved negative",
        good(co2_saved=-2),
        "$.co2_saved",
        "$.co2_saved: Expected `float` >= 0.0",
    ),
    Bad(
        "plug_price negative",
        good(plug_price=-0.01),
        "$.plug_price",
        "$.plug_price: Expected a number from 0 to 1000000",
    ),
    Bad(
        "amount negative",
        good(amount=-1),
        "$.amount",
        "$.amount: Expected a number from 0 to 1000000",
    ),
    Bad(
        "commission negative",
        good(commision_price=-1),
        "$.commision_price",
        "$.commision_price: Expected a number from 0 to 1000000",
    ),
    Bad(
        "tax negative",
        good(tax_price=-1),
        "$.tax_price",
        "$.tax_price: Expected a number from 0 to 1000000",
    ),
    Bad(
        "money not finite",
        good(amount="NaN"),
        "$.amount",
        "$.amount: Expected a number from 0 to 1000000",
    ),
    Bad(
        "battery over 100",
        good(battery_level=101),
        "$.battery_level",
        "$.battery_level: Expected `float` <= 100.0",
    ),
    Bad(
        "battery negative",
        good(battery_level=-1),
        "$.battery_level",
        "$.battery_level: Expected `float` >= 0.0",
    ),
    Bad(
        "lat out of range",
        nested(lat=91),
        "$.charger.lat",
        "$.charger.lat: Expected `float` <= 90.0",
    ),
    Bad(
        "lon out of range",
        nested(lon=-181),
        "$.charger.lon",
        "$.charger.lon: Expected `float` >= -180.0",
    ),
    Bad(
        "accessPrice negative",
        nested(chargerDetails=[{"accessPrice": -1}]),
        "$.charger.chargerDetails[0].accessPrice",
        "$.charger.chargerDetails[0].accessPrice: Expected a number from 0 to 1000000",
    ),
    Bad(
        "finished before started",
        good(started=at(10), finished=at(5)),
        "$.finished",
        "$.finished: Expected `finished` >= `started`",
    ),
    Bad(
        "date-time without offset",
        good(started="2026-03-01T12:00:00"),
        "$.started",
        "$.started: Expected `datetime` with a timezone component",
    ),
    Bad(
        "date-time garbage",
        good(updatedAt="yesterday"),
        "$.updatedAt",
        "$.updatedAt: Invalid RFC3339",
    ),
    # the bounds of what can be stored and billed (docs/api.md#bounds)
    Bad("id too long", good(id="s" * 256), "$.id", "$.id: Expected `str` of length <= 255"),
    Bad("id with NUL", good(id="s\x001"), "$.id", "$.id: Expected `str` matching regex"),
    Bad("id with a newline", good(id="s\n1"), "$.id", "$.id: Expected `str` matching regex"),
    Bad(
        "currency with a control character",
        good(currency="EU\x01"),
        "$.currency",
        "$.currency: Expected `str` matching regex",
    ),
    Bad(
        "updatedAt in year 1",
        good(updatedAt="0001-01-01T00:30:00+01:00"),
        "$.updatedAt",
        "$.updatedAt: Expected a time from 1970-01-01 to 2099-12-31",
    ),
    Bad(
        "updatedAt in year 9999",
        good(updatedAt="9999-12-31T23:30:00-01:00"),
        "$.updatedAt",
        "$.updatedAt: Expected a time from 1970-01-01 to 2099-12-31",
    ),
    Bad(
        "charger createdAt out of range",
        nested(createdAt="1969-12-31T23:59:59Z"),
        "$.charger.createdAt",
        "$.charger.createdAt: Expected a time from 1970-01-01 to 2099-12-31",
    ),
    Bad(
        "amount too large",
        b'{"id": "s-1", "status": "FINISHED", "amount": 1e999999}',
        "$.amount",
        "$.amount: Expected a number from 0 to 1000000, got 1E+999999",
    ),
    Bad(
        "energy with too many places",
        b'{"id": "s-1", "status": "FINISHED", "charged_kwh": 1e-999999}',
        "$.charged_kwh",
        "$.charged_kwh: Expected at most 9 decimal places",
    ),
    Bad(
        "price with a far exponent",
        b'{"id": "s-1", "status": "FINISHED", "plug_price": 1e-1000000000000000000}',
        "$.plug_price",
        "$.plug_price: Expected at most 9 decimal places",
    ),
    Bad(
        "nested too deeply",
        b'{"id": "s-1", "status": "FINISHED", "extra": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "$",
        "$: Expected JSON nested less deeply",
    ),
    Bad(
        "a 5000-digit integer",
        b'{"id": "s-1", "status": "FINISHED", "extra": ' + b"9" * 5000 + b"}",
        "$",
        "$: Expected numbers of fewer digits",
    ),
    Bad("not an object", "hello", "$", "$: Expected `object`, got `str`"),
    Bad("empty array", [], "$", "$: Expected an array of 1 to 500 session objects"),
    Bad("array too long", [good(id=f"s{i}") for i in range(501)], "$", "$: Expected at most 500"),
    Bad(
        "bad item in a batch",
        [good(), nested(lat=-95)],
        "$[1].charger.lat",
        "$[1].charger.lat: Expected `float` >= -90.0",
    ),
]
BAD_INPUT_IDS = [case.name for case in BAD_INPUT]
