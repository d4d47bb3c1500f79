"""The export of the bills ledger as pure rules (docs/billing.md#export): what a caller asks
for (a period, a provider, a kind; a page of `GET /v1/bills`) and how each bill is written,
as a CSV line or a JSON line, its money with the digits stored."""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Literal, get_args

import msgspec
import msgspec.inspect

from chargehook.providers.rules import PROVIDER_NAME
from chargehook.schemas.bills import BILL_KINDS, StoredBill
from chargehook.schemas.messages import BillKind

ExportFormat = Literal["csv", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
COLUMNS: tuple[str, ...] = StoredBill.__struct_fields__
# Whatever was billed: the bounds of a period a caller leaves open.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
PAGE_PARAMETERS = ("since", "until", "provider", "kind", "limit", "after")
MAX_BILL_ID = 2**63 - 1  # bigserial
CSV_SPECIAL = frozenset(',"\r\n')
CSV_END = "\r\n"  # RFC 4180
encoder = msgspec.json.Encoder(decimal_format="number")


class BadParameter(ValueError):
    """A parameter of the export or of a page that cannot be used: which, and why."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


@dataclass(frozen=True)
class BillFilter:
    """The bills billed in [since, until), of one provider and one kind when given."""

    since: datetime = EARLIEST
    until: datetime = LATEST
    provider: str | None = None
    kind: BillKind | None = None


@dataclass(frozen=True)
class PageAsked:
    """A page of `GET /v1/bills`: the filter, the bill the last page ended with, the size."""

    chosen: BillFilter
    after: int | None
    limit: int


def moment(name: str, text: str) -> datetime:
    """An ISO 8601 date (its midnight in UTC) or a date-time with an offset, in UTC."""
    try:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
    except ValueError:
        pass
    expected = "Expected a date (its UTC midnight) or a date-time with an offset (Z, +01:00)"
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, f"{expected}, got {text!r}") from None
    if at.tzinfo is None:
        raise BadParameter(name, f"{expected}: {text!r} has no offset")
    try:
        return at.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past the calendar by its offset
        raise BadParameter(
            name, f"Expected a time from year 1 to 9999 in UTC, got {text!r}"
        ) from None


def bill_filter(
    since: str | None, until: str | None, provider: str | None, kind: str | None
) -> BillFilter:
    """The filter the texts ask for; BadParameter names the first that cannot be used."""
    start = EARLIEST if since is None else moment("since", since)
    end = LATEST if until is None else moment("until", until)
    if end <= start:
        raise BadParameter("until", f"Expected a time after since, {iso(start)}: [since, until)")
    if provider is not None and not PROVIDER_NAME.match(provider):
        expected = "Expected a provider name (a-z, 0-9, '-' and '_')"
        raise BadParameter("provider", f"{expected}, got {provider!r}")
    return BillFilter(start, end, provider, bill_kind(kind))


def bill_kind(text: str | None) -> BillKind | None:
    if text is None or text in BILL_KINDS:
        return text
    raise BadParameter("kind", f"Expected one of {', '.join(BILL_KINDS)}, got {text!r}")


def page_asked(query: Iterable[tuple[str, str]]) -> PageAsked:
    """A page's query string, each parameter once; an unknown one is refused, not ignored, so
    that a misspelt filter never widens an accounting read."""
    given: dict[str, str] = {}
    for name, value in query:
        if name not in PAGE_PARAMETERS:
            raise BadParameter(name, f"Unknown parameter; expected {', '.join(PAGE_PARAMETERS)}")
        if name in given:
            raise BadParameter(name, "Expected once, given twice")
        given[name] = value
    chosen = bill_filter(*(given.get(name) for name in PAGE_PARAMETERS[:4]))
    return PageAsked(chosen, after(given.get("after")), limit(given.get("limit")))


def limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if (number := whole(text)) is None or not 0 < number <= MAX_LIMIT:
        raise BadParameter("limit", f"Expected a whole number from 1 to {MAX_LIMIT}, got {text!r}")
    return number


def after(text: str | None) -> int | None:
    """The `next` of an earlier page: the id of the bill it ended with."""
    if text is None:
        return None
    if (number := whole(text)) is None or not 0 < number <= MAX_BILL_ID:
        raise BadParameter("after", f"Expected the `next` of an earlier page, got {text!r}")
    return number


def whole(text: str) -> int | None:
    """Plain ASCII digits, short enough to be a bigint; else None."""
    if text.isascii() and text.isdigit() and len(text) <= len(str(MAX_BILL_ID)):
        return int(text)
    return None


def stored_digits(value: Any) -> Any:
    """A number as PostgreSQL stores it: asyncpg reads numeric 10000 as Decimal('1E+4'), which
    is written `1E+4`; the export writes `10000`, the text the ledger holds."""
    if isinstance(value, Decimal) and "E" in str(value):
        return Decimal(format(value, "f"))
    return value


def is_number(kind: msgspec.inspect.Type) -> bool:
    if isinstance(kind, msgspec.inspect.UnionType):
        return any(is_number(member) for member in kind.types)
    return isinstance(kind, msgspec.inspect.DecimalType)


def number_columns() -> tuple[int, ...]:
    """Where in COLUMNS the numerics are: a row's other values need no look."""
    info = msgspec.inspect.type_info(StoredBill)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(column for column, found in enumerate(info.fields) if is_number(found.type))


NUMBERS = number_columns()


def stored_bill(row: Iterable[Any]) -> StoredBill:
    """A row of the columns COLUMNS as a bill, its numbers with the digits stored."""
    values = list(row)
    for column in NUMBERS:
        values[column] = stored_digits(values[column])
    return StoredBill(*values)


def iso(at: datetime) -> str:
    """ISO 8601 in UTC, as the JSON lines have it (2026-03-01T12:00:00.250000Z), written by
    the same encoder: a tenth of `isoformat`'s time, three times a bill."""
    if at.utcoffset():
        at = at.astimezone(UTC)
    return encoder.encode(at)[1:-1].decode()


def csv_text(text: str) -> str:
    """RFC 4180: in double quotes, each doubled, when it holds a comma, a quote or a line end."""
    if CSV_SPECIAL.isdisjoint(text):
        return text
    return '"' + text.replace('"', '""') + '"'


def csv_number(value: Decimal) -> str:
    text = str(value)
    return format(value, "f") if "E" in text else text


CSV_CELLS: dict[type, Callable[[Any], str]] = {
    type(None): lambda _: "",
    str: csv_text,
    int: str,
    bool: lambda flag: "true" if flag else "false",
    Decimal: csv_number,
    datetime: iso,
}


def csv_header() -> str:
    return ",".join(COLUMNS) + CSV_END


def csv_lines(rows: Iterable[Iterable[Any]]) -> str:
    """One line per bill, from its values in COLUMNS order (a database row, or a StoredBill's
    `astuple`); an empty cell is a null (or an empty currency)."""
    cells = CSV_CELLS
    return "".join(",".join([cells[type(value)](value) for value in row]) + CSV_END for row in rows)


def jsonl_lines(bills: Sequence[StoredBill]) -> bytes:
    """One JSON object per line, money as JSON numbers with the digits stored."""
    return encoder.encode_lines(bills)


def lines(fmt: ExportFormat, rows: Sequence[Iterable[Any]]) -> bytes:
    """Rows of the COLUMNS as lines of the format."""
    if fmt == "jsonl":
        return jsonl_lines([stored_bill(row) for row in rows])
    return csv_lines(rows).encode()


def preamble(fmt: ExportFormat) -> bytes:
    """What comes before the first bill: the CSV header line; nothing for JSON lines."""
    return csv_header().encode() if fmt == "csv" else b""
