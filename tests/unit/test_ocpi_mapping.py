"""A merged OCPI Session becomes the page's session event (chargehook/ocpi/mapping.py): the page's
fields from OCPI's, the OCPI-only data verbatim under `ocpi`, and an event id that orders a merge
of more pushes later."""

from decimal import Decimal
from itertools import combinations
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargehook.ocpi.mapping import derived_event_id, ocpi_address, page_session, page_session_id
from chargehook.ocpi.merge import Push, merge
from chargehook.schemas.ocpi import session_decoder as ocpi_session
from chargehook.schemas.ocpi import session_patch_decoder
from chargehook.sessions.intake import session_decoder
from chargehook.sessions.order import order_key
from tests.unit.ocpi_pushes import FIXTURES, T0, at, encode, plain, put, raw

PENDING = plain.decode(raw("session_pending"))
COMPLETED = plain.decode(raw("session_completed"))


def page_of(doc: dict[str, Any], cdr_ids: tuple[str, ...] = ()) -> dict[str, Any]:
    return plain.decode(page_session(encode(doc), cdr_ids))


@pytest.mark.parametrize(
    ("ocpi", "page"),
    [
        ("PENDING", "ORDER_INIT_AND_WAITING"),
        ("RESERVATION", "ORDER_INIT_AND_WAITING"),
        ("ACTIVE", "IN_PROGRESS"),
        ("COMPLETED", "FINISHED"),
        ("INVALID", "PROVIDER_ERROR"),
    ],
)
def test_each_ocpi_status_becomes_the_page_status(ocpi: str, page: str) -> None:
    mapped = page_of({**PENDING, "status": ocpi})
    assert mapped["status"] == page
    assert mapped["ocpi"]["status"] == ocpi


def test_a_completed_session_becomes_the_page_fields() -> None:
    doc = {**COMPLETED, "authorization_reference": "AUTH-9"}
    page = page_of(doc)
    assert {key: value for key, value in page.items() if key != "ocpi"} == {
        "id": "ES-CHK-s-0002",
        "status": "FINISHED",
        "price_unit": "session",
        "plug_price": Decimal("10.20"),
        "plug_id": "2",
        "started": "2026-03-01T10:00:00Z",
        "finished": "2026-03-01T11:05:30Z",
        "currency": "EUR",
        "charged_kwh": Decimal("23.45"),
        "external_id": "AUTH-9",
        "createdAt": "2026-03-01T10:00:00Z",
        "updatedAt": "2026-03-01T11:05:31Z",
    }


def test_what_the_session_lacks_the_page_lacks() -> None:
    page = page_of({key: value for key, value in PENDING.items() if key != "total_cost"})
    assert not {"finished", "external_id", "amount", "tax_price", "plug_price"} & set(page)
    assert page["price_unit"] == "session"  # no price: billing says incomplete, as intended


def test_times_become_utc_with_an_offset_as_the_page_requires() -> None:
    times = {"start_date_time": "2026-03-01T09:00:00", "last_updated": "2026-03-01T11:00:00+01:00"}
    page = page_of({**PENDING, **times})
    assert (page["started"], page["createdAt"]) == ("2026-03-01T09:00:00Z",) * 2
    assert page["updatedAt"] == "2026-03-01T10:00:00Z"


@pytest.mark.parametrize(
    ("kwh", "text"),
    [
        ("0.0", b'"charged_kwh":0.0'),
        ("12.50", b'"charged_kwh":12.50'),
        ("1e-3", b'"charged_kwh":0.001'),
    ],
)
def test_kwh_becomes_charged_kwh(kwh: str, text: bytes) -> None:
    doc = encode(PENDING).replace(b'"kwh":0.0', b'"kwh":' + kwh.encode())
    page = page_session(doc, ())
    assert text in page
    assert session_decoder.decode(page).charged_kwh == Decimal(kwh)
    assert b'"kwh":' + kwh.encode() in page  # the extension keeps the text as sent


D = Decimal
# total_cost -> plug_price: the CPO's price net of VAT, billed per session; never the page's
# amount or tax_price, which chargehook's bill fills
PRICES: list[tuple[dict[str, Decimal] | None, Decimal | None]] = [
    ({"excl_vat": D("10.20"), "incl_vat": D("12.34")}, D("10.20")),
    ({"excl_vat": D("0.1"), "incl_vat": D("0.3")}, D("0.1")),
    ({"excl_vat": D("1.5")}, D("1.5")),
    ({"excl_vat": D("2.00"), "incl_vat": D("1.50")}, D("2.00")),
    (None, None),
]


@pytest.mark.parametrize(("cost", "plug_price"), PRICES)
def test_total_cost_net_of_vat_becomes_the_session_price(
    cost: dict[str, Decimal] | None, plug_price: Decimal | None
) -> None:
    doc = {key: value for key, value in PENDING.items() if key != "total_cost"}
    session = session_decoder.decode(page_session(encode({**doc, "total_cost": cost}), ()))
    assert (session.price_unit, session.plug_price) == ("session", plug_price)
    assert str(session.plug_price) == str(plug_price)  # the exact decimal, as sent
    assert (session.amount, session.tax_price, session.commision_price) == (None, None, None)


def test_the_extension_holds_the_ocpi_only_data_verbatim() -> None:
    doc = {**COMPLETED, "authorization_reference": "AUTH-9", "meter_id": "M-77", "extra": 1}
    extension = page_of(doc, ("cdr-2", "cdr-10", "cdr-1"))["ocpi"]
    expected = {
        "country_code": "ES",
        "party_id": "CHK",
        "session_id": "s-0002",
        "status": "COMPLETED",
        "cdr_token": COMPLETED["cdr_token"],
        "auth_method": "WHITELIST",
        "authorization_reference": "AUTH-9",
        "location_id": "MAD-01",
        "evse_uid": "EVSE-7",
        "connector_id": "2",
        "meter_id": "M-77",
        "kwh": Decimal("23.45"),
        "currency": "EUR",
        "total_cost": COMPLETED["total_cost"],
        "charging_periods": COMPLETED["charging_periods"],
        "last_updated": "2026-03-01T11:05:31Z",
        "cdr_ids": ["cdr-1", "cdr-10", "cdr-2"],
    }
    assert extension == expected
    assert list(extension) == list(expected)  # in the order; "extra" is not OCPI's


def test_the_extension_omits_what_the_session_lacks_and_always_has_cdr_ids() -> None:
    extension = page_of(PENDING)["ocpi"]
    assert not {"meter_id", "authorization_reference", "charging_periods"} & set(extension)
    assert extension["cdr_ids"] == []
    assert extension["total_cost"] == {"excl_vat": Decimal("1.5")}


def test_the_extension_keeps_the_json_text_of_numbers() -> None:
    page = page_session(raw("session_completed"), ())
    assert b'"total_cost":{"excl_vat":10.20,"incl_vat":12.34}' in page
    assert b'{"type":"PARKING_TIME","volume":0.255}' in page


@pytest.mark.parametrize(
    ("parts", "page_id"),
    [(("ES", "CHK", "s-0002"), "ES-CHK-s-0002"), (("NL", "ABC", "a-b-c"), "NL-ABC-a-b-c")],
)
def test_the_page_session_id(parts: tuple[str, str, str], page_id: str) -> None:
    assert page_session_id(*parts) == page_id


@pytest.mark.parametrize("parts", [("E", "SCH", "x"), ("ES", "CHKX", "x"), ("ESC", "HK", "x")])
def test_a_page_session_id_of_codes_of_other_sizes_is_refused(parts: tuple[str, str, str]) -> None:
    with pytest.raises(ValueError, match="2 and a 3 character code"):
        page_session_id(*parts)


def fixture_merges() -> dict[str, bytes]:
    """Every session fixture PUT alone and merged with every set of the patch fixtures, each
    push at its own last_updated (so the completed session's PUT is newer than the patches)."""
    patches = [
        Push("PATCH", at(20), "cost", raw("patch_total_cost")),
        Push("PATCH", at(30), "period", raw("patch_charging_period")),
    ]
    merges = {}
    for path in sorted(FIXTURES.glob("session_*.json")):
        put = Push(
            "PUT", ocpi_session.decode(path.read_bytes()).last_updated, "put", raw(path.stem)
        )
        for count in range(len(patches) + 1):
            for chosen in combinations(patches, count):
                merged = merge([put, *chosen])
                assert merged is not None
                merges["+".join([path.stem, *(p.push_id for p in chosen)])] = merged
    return merges


FIXTURE_MERGES = fixture_merges()


def test_the_fixture_merges_cover_every_session_and_patch() -> None:
    assert len(FIXTURE_MERGES) == 8
    merged = FIXTURE_MERGES["session_pending+cost+period"]
    assert b'"kwh":12.50' in merged and b'"incl_vat":1.15' in merged


@pytest.mark.parametrize("name", FIXTURE_MERGES)
def test_the_page_of_every_fixture_decodes_as_a_page_session(name: str) -> None:
    doc = plain.decode(FIXTURE_MERGES[name])
    session = session_decoder.decode(page_session(FIXTURE_MERGES[name], ["cdr-0002"]))
    assert session.id == f"ES-CHK-{doc['id']}"
    assert session.charged_kwh == doc["kwh"]


places = st.decimals(min_value=0, max_value=1_000_000, places=9, allow_nan=False)
costs = st.one_of(
    st.none(),
    st.fixed_dictionaries({"excl_vat": places}, optional={"incl_vat": places}),
)


@given(places, costs)
def test_every_session_in_the_bounds_decodes_as_a_page_session(
    kwh: Decimal, cost: dict[str, Decimal] | None
) -> None:
    doc = {key: value for key, value in PENDING.items() if key != "total_cost"}
    doc |= {"kwh": kwh} if cost is None else {"kwh": kwh, "total_cost": cost}
    session = session_decoder.decode(page_session(encode(doc), ()))
    assert session.charged_kwh == kwh
    assert session.plug_price == (None if cost is None else cost["excl_vat"])


PAGE = page_session(raw("session_completed"), ())
OTHER = page_session(raw("session_pending"), ())


def test_the_same_merge_always_gets_the_same_id() -> None:
    assert derived_event_id(3, PAGE) == derived_event_id(3, PAGE)
    assert derived_event_id(3, PAGE) != derived_event_id(3, OTHER)
    assert derived_event_id(3, PAGE).startswith("ocpi_000003_")
    assert len(derived_event_id(3, PAGE)) == len("ocpi_000003_") + 32


@given(st.integers(1, 999_999), st.integers(1, 999_999), st.binary(), st.binary())
def test_a_merge_of_more_pushes_gets_a_greater_id_as_text(
    fewer: int, more: int, page: bytes, other: bytes
) -> None:
    fewer, more = sorted((fewer, more))
    if fewer < more:
        assert derived_event_id(fewer, page) < derived_event_id(more, other)


def test_at_the_same_updated_at_the_merge_of_more_pushes_orders_later() -> None:
    older = order_key("FINISHED", T0, T0, derived_event_id(9, PAGE))
    newer = order_key("FINISHED", T0, T0, derived_event_id(10, OTHER))
    assert older < newer  # "ocpi_9_" would sort after "ocpi_10_": the count is zero-padded


@pytest.mark.parametrize("pushes", [0, -1, 1_000_000])
def test_a_count_the_id_cannot_order_is_refused(pushes: int) -> None:
    with pytest.raises(ValueError, match="pushes"):
        derived_event_id(pushes, PAGE)


# Everything a PATCH may carry, a null where the Session allows one, other values at the edges.
stamps = st.sampled_from(["2026-03-01T08:00:00Z", "2026-03-01T09:30:00Z", "2026-03-01T12:00"])
patch_fields = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["ACTIVE", "COMPLETED", "INVALID", "PENDING", None]),
        "kwh": st.one_of(places, st.none()),
        "start_date_time": st.one_of(stamps, st.none()),
        "end_date_time": st.one_of(stamps, st.none()),
        "total_cost": st.one_of(costs, st.just({"excl_vat": 1, "incl_vat": None})),
        "authorization_reference": st.one_of(st.none(), st.text("AB12", max_size=36)),
        "meter_id": st.none(),
        "charging_periods": st.sampled_from([None, [], COMPLETED["charging_periods"]]),
        "currency": st.sampled_from(["EUR", "eur", None]),
        "country_code": st.sampled_from(["ES", "es", None]),
    },
)


@given(patch_fields)
def test_every_patch_ingest_accepts_merges_into_a_page_session_or_is_kept_from_subscribers(
    fields: dict[str, Any],
) -> None:
    """A PATCH the schema accepts, merged over a PUT, is a page session, unless only the merge
    ends before it starts: ocpi.merging then stores it and publishes nothing (tested there)."""
    body = encode({**fields, "last_updated": "2026-03-01T10:00:00Z"})
    try:
        session_patch_decoder.decode(body)
    except msgspec.ValidationError:
        return  # refused at ingest with a 2001: never stored, never merged
    merged = merge([put(0, PENDING), Push("PATCH", at(60), "p", body)])
    assert merged is not None
    try:
        page = session_decoder.decode(page_session(merged, ()))
    except msgspec.ValidationError as exc:
        assert "Expected `end_date_time` >= `start_date_time`" in str(exc)
        return
    assert page.id == "ES-CHK-s-0001"  # upper case whatever the body's case


@pytest.mark.parametrize(
    ("page_id", "address"),
    [
        ("ES-ABC-s-1", ("ES", "ABC", "s-1")),
        ("ES-ABC-a-b-c", ("ES", "ABC", "a-b-c")),
        ("string", None),  # the page's own example
        ("ES-ABC-", None),
        ("ESABC-s-1", None),
        ("ES-AB-s-1", None),
    ],
)
def test_a_page_id_names_the_ocpi_session_it_was_made_from(
    page_id: str, address: tuple[str, str, str] | None
) -> None:
    assert ocpi_address(page_id) == address
    if address is not None:
        assert page_session_id(*address) == page_id
