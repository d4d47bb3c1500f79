"""The OCPI 2.2.1 wire types: documents shaped like the spec's examples decode, bad objects are
refused by field."""

import copy
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest
from msgspec import UNSET

from chargehook.schemas.ocpi import (
    Cdr,
    Price,
    Session,
    SessionPatch,
    cdr_decoder,
    session_decoder,
    session_patch_decoder,
    utc,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ocpi"
# The documents are edited as JSON values; their numbers stay Decimal so their text is kept.
plain = msgspec.json.Decoder(dict[str, Any], float_hook=Decimal)
encode = msgspec.json.Encoder(decimal_format="number").encode


def raw(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture(name: str) -> dict[str, Any]:
    return plain.decode(raw(name))


PENDING = fixture("session_pending")
COMPLETED = fixture("session_completed")
PATCH_COST = fixture("patch_total_cost")
PATCH_PERIOD = fixture("patch_charging_period")
CDR = fixture("cdr_time_tariff")


def edited(doc: dict[str, Any], path: tuple[str | int, ...], value: Any = ...) -> bytes:
    """The document with the value at path replaced, or removed when no value is given."""
    changed = copy.deepcopy(doc)
    *parents, last = path
    target: Any = changed
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return encode(changed)


def test_a_pending_session_decodes() -> None:
    session = session_decoder.decode(raw("session_pending"))
    assert session.status == "PENDING"
    assert session.kwh == Decimal("0.0")
    assert session.total_cost is not None and session.total_cost.excl_vat == Decimal("1.5")
    assert session.total_cost.incl_vat is None
    assert session.end_date_time is None
    assert session.cdr_token.type == "RFID"
    assert session.start_date_time == datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_a_completed_session_with_charging_periods_of_several_dimension_types_decodes() -> None:
    session = session_decoder.decode(raw("session_completed"))
    assert session.status == "COMPLETED"
    assert session.kwh == Decimal("23.45")
    assert session.charging_periods is not None
    types = {
        dimension.type for period in session.charging_periods for dimension in period.dimensions
    }
    assert types == {"ENERGY", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME"}
    assert session.charging_periods[2].tariff_id == "T-3"
    assert session.charging_periods[2].dimensions[0].volume == Decimal("0.255")
    assert session.total_cost is not None and session.total_cost.incl_vat == Decimal("12.34")


def test_a_patch_of_only_total_cost_and_last_updated_decodes() -> None:
    patch = session_patch_decoder.decode(raw("patch_total_cost"))
    assert isinstance(patch.total_cost, Price) and patch.total_cost.excl_vat == Decimal("0.75")
    assert patch.last_updated == datetime(2026, 3, 1, 10, 20, tzinfo=UTC)
    assert patch.status is UNSET and patch.kwh is UNSET and patch.charging_periods is UNSET
    assert plain.decode(encode(patch)) == {
        "total_cost": {"excl_vat": Decimal("0.75"), "incl_vat": Decimal("0.91")},
        "last_updated": "2026-03-01T10:20:00Z",
    }


def test_a_patch_adding_a_charging_period_decodes() -> None:
    patch = session_patch_decoder.decode(raw("patch_charging_period"))
    assert patch.kwh == Decimal("12.50")
    assert isinstance(patch.charging_periods, list)
    assert patch.charging_periods[0].dimensions[0].volume == Decimal(1800)


def test_the_cdr_with_a_time_tariff_decodes() -> None:
    cdr = cdr_decoder.decode(raw("cdr_time_tariff"))
    assert cdr.tariffs is not None
    component = cdr.tariffs[0].elements[0].price_components[0]
    assert (component.type, component.price, component.vat, component.step_size) == (
        "TIME",
        Decimal("1.80"),
        Decimal("21.0"),
        60,
    )
    assert cdr.charging_periods[0].dimensions[0].type == "TIME"
    assert cdr.cdr_location.coordinates.latitude == "40.406700"
    assert cdr.cdr_location.connector_standard == "IEC_62196_T2"
    assert cdr.total_cost.incl_vat == Decimal("2.38")
    assert cdr.total_energy == Decimal("23.45")
    assert cdr.tariffs[0].last_updated == datetime(2026, 2, 1, 8, 0, tzinfo=UTC)


def test_numbers_are_exact_decimals_from_the_json_text() -> None:
    session = session_decoder.decode(edited(COMPLETED, ("kwh",), 0.1))
    assert session.kwh == Decimal("0.1")
    assert session_decoder.decode(edited(COMPLETED, ("kwh",), 1e-3)).kwh == Decimal("0.001")


def test_a_timestamp_without_a_zone_designator_is_utc() -> None:
    raw = edited(PENDING, ("start_date_time",), "2015-06-29T20:39:09")
    session = session_decoder.decode(raw)
    assert session.start_date_time == datetime(2015, 6, 29, 20, 39, 9, tzinfo=UTC)
    assert session.start_date_time.tzinfo is UTC
    period = edited(
        PATCH_PERIOD, ("charging_periods", 0, "start_date_time"), "2016-12-29T17:45:09.2"
    )
    start = session_patch_decoder.decode(period).charging_periods[0].start_date_time  # type: ignore[index]
    assert start == datetime(2016, 12, 29, 17, 45, 9, 200_000, tzinfo=UTC)


def test_an_explicit_offset_is_converted_to_utc() -> None:
    session = session_decoder.decode(
        edited(PENDING, ("last_updated",), "2020-03-09T12:17:09+02:00")
    )
    assert session.last_updated == datetime(2020, 3, 9, 10, 17, 9, tzinfo=UTC)
    assert session.last_updated.tzinfo is UTC


def test_utc_keeps_the_instant() -> None:
    assert utc(datetime(2020, 1, 1, 0, 0)) == datetime(2020, 1, 1, tzinfo=UTC)
    plus_two = datetime(2020, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert utc(plus_two).tzinfo is UTC and utc(plus_two) == datetime(2020, 1, 1, tzinfo=UTC)


def test_a_struct_built_in_python_holds_utc_too() -> None:
    patch = SessionPatch(last_updated=datetime(2020, 1, 1, 12, 0))
    assert patch.last_updated.tzinfo is UTC


def test_unknown_fields_are_tolerated_everywhere() -> None:
    doc = copy.deepcopy(CDR)
    doc["from_a_later_version"] = {"x": 1}
    doc["cdr_location"]["opening_times"] = None
    doc["tariffs"][0]["elements"][0]["price_components"][0]["extra"] = "y"
    assert isinstance(cdr_decoder.decode(encode(doc)), Cdr)
    session = dict(PENDING, unknown=[1, 2])
    assert isinstance(session_decoder.decode(encode(session)), Session)


def test_what_the_spec_allows_to_be_negative_decodes() -> None:
    credit = copy.deepcopy(CDR)
    credit.update(id="12345-credit-for-the-original-cdr-12345", credit=True)
    credit.update(credit_reference_id="12345", total_cost={"excl_vat": -4.00, "incl_vat": -4.40})
    cdr = cdr_decoder.decode(encode(credit))
    assert len(cdr.id) == 39 and cdr.total_cost.excl_vat == Decimal("-4.00")
    energy = ("charging_periods", 0, "dimensions", 0)
    fed_back = edited(COMPLETED, energy, {"type": "ENERGY", "volume": -3.5})
    assert session_decoder.decode(fed_back).charging_periods[0].dimensions[0].volume < 0  # type: ignore[index]


def test_a_zero_time_cdr_the_spec_allows_decodes() -> None:
    doc = edited(CDR, ("start_date_time",), "1970-01-01T00:00:00Z")
    assert cdr_decoder.decode(doc).start_date_time == datetime(1970, 1, 1, tzinfo=UTC)


PERIOD = ("charging_periods", 0)
DIMENSION = (*PERIOD, "dimensions", 0)
COMPONENT = ("tariffs", 0, "elements", 0, "price_components", 0)
S, P, C = session_decoder, session_patch_decoder, cdr_decoder
# (decoder, document, path, new value or ... to remove it, text the error must contain)
BAD: list[tuple[msgspec.json.Decoder[Any], dict[str, Any], tuple[str | int, ...], Any, str]] = [
    (S, COMPLETED, ("status",), "STOPPED", "`$.status`"),
    (S, COMPLETED, ("status",), "completed", "`$.status`"),
    (S, COMPLETED, ("auth_method",), "PIN", "`$.auth_method`"),
    (S, COMPLETED, ("country_code",), "BEL", "`$.country_code`"),
    (S, COMPLETED, ("country_code",), "B", "`$.country_code`"),
    (S, COMPLETED, ("party_id",), "BECX", "`$.party_id`"),
    (S, COMPLETED, ("id",), "x" * 37, "`$.id`"),
    (
        S,
        COMPLETED,
        ("charging_periods",),
        {"start_date_time": "2015-06-29T22:39:09Z"},
        "`$.charging_periods`",
    ),
    (S, COMPLETED, (*DIMENSION, "type"), "VOLTAGE", "`$.charging_periods[0].dimensions[0].type`"),
    (S, COMPLETED, (*PERIOD, "dimensions"), [], "`$.charging_periods[0].dimensions`"),
    (S, COMPLETED, (*DIMENSION, "volume"), "much", "`$.charging_periods[0].dimensions[0].volume`"),
    (S, COMPLETED, DIMENSION, {"type": "STATE_OF_CHARGE", "volume": 101}, "`volume`"),
    (S, COMPLETED, DIMENSION, {"type": "PARKING_TIME", "volume": -0.5}, "`volume`"),
    (S, COMPLETED, (*PERIOD, "tariff_id"), "t" * 37, "`$.charging_periods[0].tariff_id`"),
    (S, COMPLETED, ("currency",), "EURO", "`$.currency`"),
    (S, COMPLETED, ("cdr_token",), ..., "`cdr_token`"),
    (S, COMPLETED, ("cdr_token", "type"), "CARD", "`$.cdr_token.type`"),
    (S, COMPLETED, ("cdr_token", "uid"), "u" * 37, "`$.cdr_token.uid`"),
    (S, COMPLETED, ("cdr_token", "contract_id"), ..., "`contract_id`"),
    (S, COMPLETED, ("last_updated",), ..., "`last_updated`"),
    (S, COMPLETED, ("last_updated",), "yesterday", "`$.last_updated`"),
    (S, COMPLETED, ("start_date_time",), "2200-01-01T00:00:00Z", "`start_date_time`"),
    (S, COMPLETED, ("kwh",), "lots", "`$.kwh`"),
    (S, COMPLETED, ("kwh",), "NaN", "`kwh`"),
    (S, COMPLETED, ("kwh",), -1, "`kwh`"),
    (S, COMPLETED, ("kwh",), 1_000_001, "`kwh`"),
    (S, COMPLETED, ("total_cost", "excl_vat"), -0.5, "`excl_vat`"),
    (S, COMPLETED, ("total_cost", "incl_vat"), 0.1234567891, "`incl_vat`"),
    (S, COMPLETED, ("total_cost", "excl_vat"), ..., "`excl_vat`"),
    (S, COMPLETED, ("evse_uid",), "32\t56", "`$.evse_uid`"),
    (S, COMPLETED, ("location_id",), "Löc1", "`$.location_id`"),
    (S, COMPLETED, ("meter_id",), "m" * 256, "`$.meter_id`"),
    (P, PATCH_COST, ("last_updated",), ..., "`last_updated`"),
    (P, PATCH_COST, ("status",), "DONE", "`$.status`"),
    # a field a Session requires is never null in a PATCH: the merge would be no Session
    (P, PATCH_COST, ("status",), None, "`$.status`"),
    (P, PATCH_COST, ("kwh",), None, "`$.kwh`"),
    (P, PATCH_COST, ("start_date_time",), None, "`$.start_date_time`"),
    (P, PATCH_COST, ("cdr_token",), None, "`$.cdr_token`"),
    (S, COMPLETED, ("end_date_time",), "2026-03-01T09:00:00Z", "`end_date_time`"),
    (P, PATCH_COST, ("total_cost", "incl_vat"), "Infinity", "`incl_vat`"),
    (P, PATCH_PERIOD, (*PERIOD, "start_date_time"), ..., "`start_date_time`"),
    (C, CDR, ("cdr_token",), ..., "`cdr_token`"),
    (
        C,
        CDR,
        ("cdr_location", "coordinates", "latitude"),
        "51.04",
        "`$.cdr_location.coordinates.latitude`",
    ),
    (
        C,
        CDR,
        ("cdr_location", "coordinates", "latitude"),
        "151.047599",
        "`$.cdr_location.coordinates.latitude`",
    ),
    (
        C,
        CDR,
        ("cdr_location", "coordinates", "longitude"),
        "east",
        "`$.cdr_location.coordinates.longitude`",
    ),
    (
        C,
        CDR,
        ("cdr_location", "connector_standard"),
        "TYPE2",
        "`$.cdr_location.connector_standard`",
    ),
    (C, CDR, ("cdr_location", "connector_format"), "PLUG", "`$.cdr_location.connector_format`"),
    (
        C,
        CDR,
        ("cdr_location", "connector_power_type"),
        "AC",
        "`$.cdr_location.connector_power_type`",
    ),
    (C, CDR, ("cdr_location", "country"), "BE", "`$.cdr_location.country`"),
    (C, CDR, ("cdr_location", "address"), "a" * 46, "`$.cdr_location.address`"),
    (C, CDR, (*COMPONENT, "type"), "KWH", "`$.tariffs[0].elements[0].price_components[0].type`"),
    (
        C,
        CDR,
        (*COMPONENT, "step_size"),
        -5,
        "`$.tariffs[0].elements[0].price_components[0].step_size`",
    ),
    (C, CDR, ("tariffs", 0, "elements"), [], "`$.tariffs[0].elements`"),
    (C, CDR, ("charging_periods",), [], "`$.charging_periods`"),
    (C, CDR, ("id",), "c" * 37, "`id`"),
    (C, CDR, ("credit",), True, "`credit_reference_id`"),
    (C, CDR, ("total_time",), -1, "`total_time`"),
    (C, CDR, ("total_cost",), ..., "`total_cost`"),
    (C, CDR, ("end_date_time",), ..., "`end_date_time`"),
]


def test_the_table_of_bad_objects_is_large() -> None:
    assert len(BAD) >= 25


@pytest.mark.parametrize(("decoder", "doc", "path", "value", "field"), BAD)
def test_a_bad_object_is_refused_naming_its_field(
    decoder: msgspec.json.Decoder[Any],
    doc: dict[str, Any],
    path: tuple[str | int, ...],
    value: Any,
    field: str,
) -> None:
    assert decoder.decode(encode(doc))  # the document is good before the one edit
    with pytest.raises(msgspec.ValidationError) as refused:
        decoder.decode(edited(doc, path, value))
    assert field in str(refused.value)
