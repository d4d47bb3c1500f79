"""What an OCPI push's hot path does more cheaply than the obvious code, checked to decide the
same: the datetime fields `Ocpi.__post_init__` looks at, the URL parts taken as typed without
`msgspec.convert`, and the ids made up for an answer (docs/ocpi.md#transport)."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Optional

import msgspec
import msgspec.inspect
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargehook.ingest.ocpi.envelope import made_up_id
from chargehook.ingest.ocpi.pushes import PATH_TYPES, surely_typed
from chargehook.schemas import ocpi
from chargehook.schemas.datetime_fields import datetime_fields, may_hold_datetime

OCPI_OBJECTS = ocpi.Ocpi.__subclasses__()


@pytest.mark.parametrize(
    ("annotation", "holds"),
    [
        (datetime, True),
        (datetime | None, True),
        (Optional[datetime], True),  # noqa: UP045 - typing.Union is a union too
        (Annotated[datetime, msgspec.Meta(description="x")], True),
        (Any, True),
        (str | None, False),
        (list[datetime], False),  # a datetime inside a list is its own object's field
        (dict[str, Any] | None, False),
        (ocpi.Price | None, False),
    ],
)
def test_a_field_may_hold_a_datetime_only_by_its_type(annotation: object, holds: bool) -> None:
    assert may_hold_datetime(msgspec.inspect.type_info(annotation)) is holds


def test_the_datetime_fields_are_every_field_typed_datetime() -> None:
    assert datetime_fields(ocpi.Session) == ("start_date_time", "end_date_time", "last_updated")
    assert datetime_fields(ocpi.Tariff) == ("start_date_time", "end_date_time", "last_updated")
    assert datetime_fields(ocpi.ChargingPeriod) == ("start_date_time",)
    assert datetime_fields(ocpi.Price) == ()
    for cls in OCPI_OBJECTS:
        typed = {f.name for f in msgspec.structs.fields(cls) if "datetime" in repr(f.type)}
        assert set(datetime_fields(cls)) == typed, cls


@given(st.sampled_from(sorted(PATH_TYPES)), st.text(max_size=45))
def test_a_url_part_taken_as_typed_is_one_msgspec_takes(name: str, value: str) -> None:
    if surely_typed(name, value):
        msgspec.convert(value, PATH_TYPES[name])


@pytest.mark.parametrize(
    ("name", "value", "sure"),
    [
        ("country_code", "BE", True),
        ("country_code", "be", True),  # CiString: either case
        ("country_code", "B", False),
        ("party_id", "AB\x7f", False),
        ("party_id", "ABÇ", False),
        ("session_id", "s " * 18, True),
        ("session_id", "s" * 37, False),
        ("session_id", "", False),
        ("cdr_id", "c" * 39, True),
    ],
)
def test_url_parts(name: str, value: str, sure: bool) -> None:
    assert surely_typed(name, value) is sure


def test_a_made_up_id_is_a_random_uuid() -> None:
    made = [made_up_id() for _ in range(2000)]
    assert len(set(made)) == len(made)
    for text in made:
        found = uuid.UUID(text)
        assert str(found) == text
        assert found.version == 4 and found.variant == uuid.RFC_4122
