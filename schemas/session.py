"""The session event of the product's webhook page, field for field, with the page's spellings.

Money and metered energy decode straight to `Decimal` from the JSON text. Unknown fields are
skipped here; ingest keeps the raw item verbatim, so nothing a provider sends is lost.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal, get_args

import msgspec

Status = Literal[
    "FINISHED",
    "IN_PROGRESS",
    "ORDER_INIT_AND_WAITING",
    "NOT_PLUGGED",
    "PAYMENT_ERROR",
    "INTERNAL_ERROR",
    "PROVIDER_ERROR",
]
STATUSES: tuple[Status, ...] = get_args(Status)
PriceUnit = Literal["kwh", "minute", "hour", "session", "free"]

Timestamp = Annotated[datetime, msgspec.Meta(tz=True, description="RFC 3339 with an offset")]
NonNegative = Annotated[float, msgspec.Meta(ge=0)]
Latitude = Annotated[float, msgspec.Meta(ge=-90, le=90)]
Longitude = Annotated[float, msgspec.Meta(ge=-180, le=180)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100)]
# What chargehook stores and bills, and no real charging session exceeds (docs/api.md#bounds):
# everything ingest accepts fits in PostgreSQL and the bill arithmetic, so every 200 is storable.
MAX_ID_CHARS = 255
MAX_CURRENCY_CHARS = 16
MAX_AMOUNT = Decimal(1_000_000)  # any money or energy figure, in the currency or in kWh
MAX_DECIMALS = 9
SMALLEST_STEP = Decimal(1).scaleb(-MAX_DECIMALS)  # 1E-9: made once, not per amount checked
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
CONTROL_CHARACTERS = r"\x00-\x1f\x7f"  # PostgreSQL text cannot hold NUL; the rest is noise
NO_CONTROL_CHARACTERS = f"^[^{CONTROL_CHARACTERS}]*$"
SessionId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=MAX_ID_CHARS,
        pattern=NO_CONTROL_CHARACTERS,
        description="1 to 255 characters, no control characters",
    ),
]
Currency = Annotated[
    str,
    msgspec.Meta(min_length=1, max_length=MAX_CURRENCY_CHARS, pattern=NO_CONTROL_CHARACTERS),
]
# Decoded from the JSON text straight to Decimal: the page types money as a number, and a
# decimal string is accepted too. Sign, size and places are checked in __post_init__.
Money = Annotated[Decimal, msgspec.Meta(description="decimal, from its JSON text")]


class InvalidField(ValueError):
    """A rule across or beyond one field's type was broken; msgspec adds the object's path."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(f"{expected} - at field `{field}`")


def check_amounts(**amounts: Decimal | None) -> None:
    """Money and metered quantities: finite, from 0 to MAX_AMOUNT, at most MAX_DECIMALS places."""
    for name, value in amounts.items():
        if value is None:
            continue
        if not value.is_finite() or not 0 <= value <= MAX_AMOUNT:
            raise InvalidField(
                name, f"Expected a number from 0 to {MAX_AMOUNT}, got {_shown(value)}"
            )
        if value != value.quantize(SMALLEST_STEP):
            raise InvalidField(
                name, f"Expected at most {MAX_DECIMALS} decimal places, got {_shown(value)}"
            )


def check_times(**times: datetime | None) -> None:
    """Every timestamp falls in [EARLIEST, LATEST), whatever its offset."""
    for name, value in times.items():
        if value is not None and not EARLIEST <= value < LATEST:
            raise InvalidField(
                name, f"Expected a time from 1970-01-01 to 2099-12-31, got {value.isoformat()}"
            )


def _shown(value: Decimal) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."


class Wire(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Base of every page object: all fields optional, unknown fields skipped."""


class PhysicalPlug(Wire):
    id_: str | None = msgspec.field(default=None, name="_id")
    logicPlug: str | None = None
    physicalPlugId: str | None = None
    conectorType: float | None = None
    status: bool | None = None
    lastUpdate: Timestamp | None = None
    chargeMode: float | None = None
    maxPower: NonNegative | None = None
    provider: str | None = None
    price: Money | None = None

    def __post_init__(self) -> None:
        check_amounts(price=self.price)
        check_times(lastUpdate=self.lastUpdate)


class LogicPlug(Wire):
    id_: str | None = msgspec.field(default=None, name="_id")
    chargerDetails: str | None = None
    # The page's schema says string, its example sends 188: both are accepted.
    logicPlugId: str | int | None = None
    lastUpdate: Timestamp | None = None
    chargeSpeedId: float | None = None
    provider: str | None = None
    physicalPlugs: list[PhysicalPlug] | None = None

    def __post_init__(self) -> None:
        check_times(lastUpdate=self.lastUpdate)


class ChargerDetails(Wire):
    id_: str | None = msgspec.field(default=None, name="_id")
    charger: str | None = None
    name: str | None = None
    model: str | None = None
    address: str | None = None
    town: str | None = None
    state: str | None = None
    hasRestaurant: bool | None = None
    hasMall: bool | None = None
    hasCarWash: bool | None = None
    hasParking: bool | None = None
    hasGasStation: bool | None = None
    hasShop: bool | None = None
    hasCoffeeShop: bool | None = None
    hasWorkshop: bool | None = None
    plusCode: str | int | None = None
    accessPrice: Money | None = None
    moreInfo: str | None = None
    schedule: str | None = None
    plugs: list[LogicPlug] | None = None
    provider: str | None = None
    bookingType: float | None = None
    bookingTime: float | None = None
    freeCancelBookingTime: float | None = None
    createdAt: Timestamp | None = None
    updatedAt: Timestamp | None = None
    monday: str | None = None
    tuesday: str | None = None
    wednesday: str | None = None
    thursday: str | None = None
    friday: str | None = None
    saturday: str | None = None
    sunday: str | None = None

    def __post_init__(self) -> None:
        check_amounts(accessPrice=self.accessPrice)
        check_times(createdAt=self.createdAt, updatedAt=self.updatedAt)


class Charger(Wire):
    id_: str | None = msgspec.field(default=None, name="_id")
    idPR: str | None = None
    idCupr: float | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None
    status: bool | None = None
    plugs: float | None = None
    provider: str | None = None
    connection: str | None = None
    chargerDetails: list[ChargerDetails] | None = None
    # The page's schema says string[], its example sends numbers: both are accepted.
    loc: list[str | float] | None = None
    createdAt: Timestamp | None = None
    updatedAt: Timestamp | None = None
    show: bool | None = None

    def __post_init__(self) -> None:
        check_times(createdAt=self.createdAt, updatedAt=self.updatedAt)


class Session(Wire):
    """One charging session event as a provider posts it and a subscriber receives it."""

    id: SessionId
    status: Status
    amount: Money | None = None
    commision_price: Money | None = None
    tax_price: Money | None = None
    provider: str | None = None
    charger: Charger | None = None
    physicalPlugs: PhysicalPlug | None = None
    plug_id: str | None = None
    started: Timestamp | None = None
    finished: Timestamp | None = None
    email: str | None = None
    plug_price: Money | None = None
    price_unit: PriceUnit | None = None
    currency: Currency | None = None
    charged_kwh: Money | None = None
    co2_saved: NonNegative | None = None
    battery_level: Percent | None = None
    user_email: str | None = None
    plate: str | None = None
    external_id: str | None = None
    createdAt: Timestamp | None = None
    updatedAt: Timestamp | None = None
    outlet_number: float | None = None
    power_kw: NonNegative | None = None

    def __post_init__(self) -> None:
        check_amounts(
            amount=self.amount,
            commision_price=self.commision_price,
            tax_price=self.tax_price,
            plug_price=self.plug_price,
            charged_kwh=self.charged_kwh,
        )
        check_times(
            started=self.started,
            finished=self.finished,
            createdAt=self.createdAt,
            updatedAt=self.updatedAt,
        )
        if self.started and self.finished and self.finished < self.started:
            raise InvalidField("finished", "Expected `finished` >= `started`")
