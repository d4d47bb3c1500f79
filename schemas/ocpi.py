"""OCPI 2.2.1 Session and CDR objects as a receiver (eMSP) gets them (docs/ocpi.md).

One job: the spec's objects a Session or CDR is made of, with their rules; many, but one spec's.

Written from the OCPI 2.2.1 specification (tag v2.2.1-d2): mod_sessions.asciidoc (Session,
SessionStatus, the PATCH rules), mod_cdrs.asciidoc (CDR, CdrToken, CdrLocation, ChargingPeriod,
CdrDimension, CdrDimensionType, AuthMethod, SignedData, credit CDRs), mod_tariffs.asciidoc
(Tariff and its parts, TariffDimensionType), mod_locations.asciidoc (GeoLocation, ConnectorType,
ConnectorFormat, PowerType), mod_tokens.asciidoc (TokenType), types.asciidoc (CiString, string,
DateTime, number, Price, DisplayText) and transport_and_format.asciidoc.

Choices:

- DateTime: types.asciidoc says every timestamp is UTC and that one without a zone designator
  is UTC. msgspec decodes such a timestamp as a naive datetime, so every object's
  `__post_init__` (run by msgspec after decoding, and on construction) passes each datetime
  field through `utc`: a naive value gets UTC, an aware one is converted to UTC. A sender's
  explicit offset is converted rather than refused: the instant is unambiguous. Every datetime
  an object holds is therefore timezone-aware UTC, and in the project's storable range.
- Numbers are `Decimal`, decoded straight from the JSON text by the typed decoders. Signs are
  left free where the spec allows negatives: a credit CDR's `total_cost` is negative, an ENERGY
  dimension is negative when more went to the grid; `kwh` and `total_energy` are not said to be
  non-negative, but a Session's `kwh` and `total_cost` become the page's `charged_kwh` and
  money fields, so docs/api.md#bounds applies to them: 0 to 1 000 000, at most 9 places. Every
  Price is at most 1 000 000 either way with at most 9 places, so it is storable. Durations
  in hours are never negative, STATE_OF_CHARGE is 0 to 100. Each number must be finite (a
  decimal string such as "NaN" would decode).
- CiString is printable ASCII, string printable UTF-8 (no control characters); the lengths are
  the field tables' maxima, and codes with a fixed size (country_code 2, party_id 3, currency 3,
  a location's country 3) must have exactly that size.
- Tariff is modelled as a CDR's `tariffs` carries it, with its elements, price components and
  restrictions; only `energy_mix` is kept as a loose JSON object.
- Unknown fields are skipped, as for every provider payload: later minor versions add fields.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from chargehook.schemas.datetime_fields import datetime_fields
from chargehook.schemas.session import (
    InvalidField,
    check_amounts,
    check_times,
)

CI_PRINTABLE = r"^[\x20-\x7e]*$"  # types.asciidoc: CiString is printable ASCII only
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"  # types.asciidoc: string is printable UTF-8 only


def ci_string(max_length: int, min_length: int = 0) -> msgspec.Meta:
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=CI_PRINTABLE)


def string(max_length: int, min_length: int = 0) -> msgspec.Meta:
    return msgspec.Meta(min_length=min_length, max_length=max_length, pattern=PRINTABLE)


CountryCode = Annotated[str, ci_string(2, 2)]
PartyId = Annotated[str, ci_string(3, 3)]
Id36 = Annotated[str, ci_string(36)]
Id39 = Annotated[str, ci_string(39)]
Currency = Annotated[str, string(3, 3)]
Number = Annotated[Decimal, msgspec.Meta(description="JSON number, decoded exactly")]
# mod_locations.asciidoc gives the regexes unanchored; msgspec searches, so they are anchored.
Latitude = Annotated[str, msgspec.Meta(max_length=10, pattern=r"^-?[0-9]{1,2}\.[0-9]{5,7}$")]
Longitude = Annotated[str, msgspec.Meta(max_length=11, pattern=r"^-?[0-9]{1,3}\.[0-9]{5,7}$")]

SessionStatus = Literal["ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"]
AuthMethod = Literal["AUTH_REQUEST", "COMMAND", "WHITELIST"]
TokenType = Literal["AD_HOC_USER", "APP_USER", "OTHER", "RFID"]
CdrDimensionType = Literal[
    "CURRENT",
    "ENERGY",
    "ENERGY_EXPORT",
    "ENERGY_IMPORT",
    "MAX_CURRENT",
    "MIN_CURRENT",
    "MAX_POWER",
    "MIN_POWER",
    "PARKING_TIME",
    "POWER",
    "RESERVATION_TIME",
    "STATE_OF_CHARGE",
    "TIME",
]
TariffDimensionType = Literal["ENERGY", "FLAT", "PARKING_TIME", "TIME"]
TariffType = Literal["AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"]
DayOfWeek = Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
ReservationRestrictionType = Literal["RESERVATION", "RESERVATION_EXPIRES"]
ConnectorFormat = Literal["SOCKET", "CABLE"]
PowerType = Literal["AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"]
ConnectorType = Literal[
    "CHADEMO", "CHAOJI", "DOMESTIC_A", "DOMESTIC_B", "DOMESTIC_C", "DOMESTIC_D", "DOMESTIC_E",
    "DOMESTIC_F", "DOMESTIC_G", "DOMESTIC_H", "DOMESTIC_I", "DOMESTIC_J", "DOMESTIC_K",
    "DOMESTIC_L", "DOMESTIC_M", "DOMESTIC_N", "DOMESTIC_O", "GBT_AC", "GBT_DC",
    "IEC_60309_2_single_16", "IEC_60309_2_three_16", "IEC_60309_2_three_32",
    "IEC_60309_2_three_64", "IEC_62196_T1", "IEC_62196_T1_COMBO", "IEC_62196_T2",
    "IEC_62196_T2_COMBO", "IEC_62196_T3A", "IEC_62196_T3C", "NEMA_5_20", "NEMA_6_30", "NEMA_6_50",
    "NEMA_10_30", "NEMA_10_50", "NEMA_14_30", "NEMA_14_50", "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN", "TESLA_R", "TESLA_S",
]  # fmt: skip
HOURS: frozenset[str] = frozenset({"PARKING_TIME", "RESERVATION_TIME", "TIME"})


def utc(dt: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive one is taken as UTC (types.asciidoc)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def check_finite(**numbers: Decimal | None) -> None:
    for name, value in numbers.items():
        if value is not None and not value.is_finite():
            raise InvalidField(name, f"Expected a finite number, got {value}")


def check_not_negative(**numbers: Decimal | None) -> None:
    for name, value in numbers.items():
        if value is not None and value < 0:
            raise InvalidField(name, f"Expected a number >= 0, got {value}")


def check_session(kwh: object, total_cost: object, start: object, end: object) -> None:
    """A Session's or a PATCH's figures, where it has them: `kwh` and `total_cost` keep
    docs/api.md#bounds (they become the page's `charged_kwh` and price), and the order of its
    times."""
    if isinstance(kwh, Decimal):
        check_finite(kwh=kwh)
        check_amounts(kwh=kwh)
    if isinstance(total_cost, Price):
        check_amounts(excl_vat=total_cost.excl_vat, incl_vat=total_cost.incl_vat)
    check_order(start, end)


def check_order(start: object, end: object) -> None:
    """A Session ends no earlier than it starts (the page's `finished` >= `started`). A PATCH
    with only one of them is checked once merged: ocpi.merging keeps a merge that breaks it
    from subscribers."""
    if isinstance(start, datetime) and isinstance(end, datetime) and end < start:
        raise InvalidField("end_date_time", "Expected `end_date_time` >= `start_date_time`")


def check_storable(**numbers: Decimal | None) -> None:
    """From -MAX_AMOUNT to MAX_AMOUNT with at most MAX_DECIMALS places (docs/api.md#bounds)."""
    check_amounts(
        **{name: None if value is None else abs(value) for name, value in numbers.items()}
    )


class Ocpi(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every OCPI object: datetimes made UTC, unknown fields skipped."""

    def __post_init__(self) -> None:
        for name in datetime_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = utc(value)
                setattr(self, name, value)
                check_times(**{name: value})


class Price(Ocpi, kw_only=True):
    excl_vat: Number
    incl_vat: Number | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(excl_vat=self.excl_vat, incl_vat=self.incl_vat)
        check_storable(excl_vat=self.excl_vat, incl_vat=self.incl_vat)


class GeoLocation(Ocpi, kw_only=True):
    latitude: Latitude
    longitude: Longitude


class DisplayText(Ocpi, kw_only=True):
    language: Annotated[str, string(2, 2)]
    text: Annotated[str, string(512)]


class CdrToken(Ocpi, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    uid: Id36
    type: TokenType
    contract_id: Id36


class CdrDimension(Ocpi, kw_only=True):
    type: CdrDimensionType
    volume: Number

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(volume=self.volume)
        if self.type in HOURS:
            check_not_negative(volume=self.volume)
        if self.type == "STATE_OF_CHARGE" and not 0 <= self.volume <= 100:
            raise InvalidField(
                "volume", f"Expected a STATE_OF_CHARGE from 0 to 100, got {self.volume}"
            )


class ChargingPeriod(Ocpi, kw_only=True):
    start_date_time: datetime
    dimensions: Annotated[list[CdrDimension], msgspec.Meta(min_length=1)]
    tariff_id: Id36 | None = None


class CdrLocation(Ocpi, kw_only=True):
    id: Id36
    name: Annotated[str, string(255)] | None = None
    address: Annotated[str, string(45)]
    city: Annotated[str, string(45)]
    postal_code: Annotated[str, string(10)] | None = None
    state: Annotated[str, string(20)] | None = None
    country: Annotated[str, string(3, 3)]
    coordinates: GeoLocation
    evse_uid: Id36
    evse_id: Annotated[str, ci_string(48)]
    connector_id: Id36
    connector_standard: ConnectorType
    connector_format: ConnectorFormat
    connector_power_type: PowerType


class SignedValue(Ocpi, kw_only=True):
    nature: Annotated[str, ci_string(32)]
    plain_data: Annotated[str, string(512)]
    signed_data: Annotated[str, string(5000)]


class SignedData(Ocpi, kw_only=True):
    encoding_method: Id36
    encoding_method_version: int | None = None
    public_key: Annotated[str, string(512)] | None = None
    signed_values: Annotated[list[SignedValue], msgspec.Meta(min_length=1)]
    url: Annotated[str, string(512)] | None = None


class PriceComponent(Ocpi, kw_only=True):
    type: TariffDimensionType
    price: Number
    vat: Number | None = None
    step_size: Annotated[int, msgspec.Meta(ge=0)]

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(price=self.price, vat=self.vat)


class TariffRestrictions(Ocpi, kw_only=True):
    start_time: Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = (
        None
    )
    end_time: Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] | None = None
    start_date: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    end_date: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    min_kwh: Number | None = None
    max_kwh: Number | None = None
    min_current: Number | None = None
    max_current: Number | None = None
    min_power: Number | None = None
    max_power: Number | None = None
    min_duration: int | None = None
    max_duration: int | None = None
    day_of_week: list[DayOfWeek] | None = None
    reservation: ReservationRestrictionType | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(
            min_kwh=self.min_kwh,
            max_kwh=self.max_kwh,
            min_current=self.min_current,
            max_current=self.max_current,
            min_power=self.min_power,
            max_power=self.max_power,
        )


class TariffElement(Ocpi, kw_only=True):
    price_components: Annotated[list[PriceComponent], msgspec.Meta(min_length=1)]
    restrictions: TariffRestrictions | None = None


class Tariff(Ocpi, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: Id36
    currency: Currency
    type: TariffType | None = None
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: Annotated[str, string(255)] | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: Annotated[list[TariffElement], msgspec.Meta(min_length=1)]
    start_date_time: datetime | None = None
    end_date_time: datetime | None = None
    energy_mix: dict[str, Any] | None = None
    last_updated: datetime


class Session(Ocpi, kw_only=True):
    """A Session as a CPO PUTs it (mod_sessions.asciidoc, Session object)."""

    country_code: CountryCode
    party_id: PartyId
    id: Id36
    start_date_time: datetime
    end_date_time: datetime | None = None
    kwh: Number
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Id36 | None = None
    location_id: Id36
    evse_uid: Id36
    connector_id: Id36
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: SessionStatus
    last_updated: datetime

    def __post_init__(self) -> None:
        super().__post_init__()
        check_session(self.kwh, self.total_cost, self.start_date_time, self.end_date_time)


class SessionPatch(Ocpi, kw_only=True):
    """A Session PATCH: any field of a Session, and always `last_updated` (mod_sessions PATCH).

    A field a Session requires may be left out of a PATCH but never be null: its merge would
    be no Session. One a Session may leave out may be null, which clears it."""

    country_code: CountryCode | UnsetType = UNSET
    party_id: PartyId | UnsetType = UNSET
    id: Id36 | UnsetType = UNSET
    start_date_time: datetime | UnsetType = UNSET
    end_date_time: datetime | UnsetType | None = UNSET
    kwh: Number | UnsetType = UNSET
    cdr_token: CdrToken | UnsetType = UNSET
    auth_method: AuthMethod | UnsetType = UNSET
    authorization_reference: Id36 | UnsetType | None = UNSET
    location_id: Id36 | UnsetType = UNSET
    evse_uid: Id36 | UnsetType = UNSET
    connector_id: Id36 | UnsetType = UNSET
    meter_id: Annotated[str, string(255)] | UnsetType | None = UNSET
    currency: Currency | UnsetType = UNSET
    charging_periods: list[ChargingPeriod] | UnsetType | None = UNSET
    total_cost: Price | UnsetType | None = UNSET
    status: SessionStatus | UnsetType = UNSET
    last_updated: datetime

    def __post_init__(self) -> None:
        super().__post_init__()
        check_session(self.kwh, self.total_cost, self.start_date_time, self.end_date_time)


class Cdr(Ocpi, kw_only=True):
    """A CDR as a CPO POSTs it (mod_cdrs.asciidoc, CDR object)."""

    country_code: CountryCode
    party_id: PartyId
    # 39 leaves room for a credit CDR's suffix; a normal CDR's id is checked to 36 below.
    id: Id39
    start_date_time: datetime
    end_date_time: datetime
    session_id: Id36 | None = None
    cdr_token: CdrToken
    auth_method: AuthMethod
    authorization_reference: Id36 | None = None
    cdr_location: CdrLocation
    meter_id: Annotated[str, string(255)] | None = None
    currency: Currency
    tariffs: list[Tariff] | None = None
    charging_periods: Annotated[list[ChargingPeriod], msgspec.Meta(min_length=1)]
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: Number
    total_energy_cost: Price | None = None
    total_time: Number
    total_time_cost: Price | None = None
    total_parking_time: Number | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: Annotated[str, string(255)] | None = None
    invoice_reference_id: Id39 | None = None
    credit: bool | None = None
    credit_reference_id: Id39 | None = None
    home_charging_compensation: bool | None = None
    last_updated: datetime

    def __post_init__(self) -> None:
        super().__post_init__()
        check_finite(
            total_energy=self.total_energy,
            total_time=self.total_time,
            total_parking_time=self.total_parking_time,
        )
        check_not_negative(total_time=self.total_time, total_parking_time=self.total_parking_time)
        if not self.credit and len(self.id) > 36:
            raise InvalidField("id", "Expected at most 36 characters for a CDR that is no credit")
        if self.credit and self.credit_reference_id is None:
            raise InvalidField("credit_reference_id", "Expected for a credit CDR")


# Typed decoders read JSON numbers into the Decimal fields exactly, as schemas/session.py's do.
session_decoder = msgspec.json.Decoder(Session)
session_patch_decoder = msgspec.json.Decoder(SessionPatch)
cdr_decoder = msgspec.json.Decoder(Cdr)
