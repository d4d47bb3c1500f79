"""The intake rules of docs/api.md on the pure functions, with no server, broker or database."""

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from chargehook.schemas import Session
from chargehook.sessions.intake import (
    BadInput,
    Item,
    check_idempotency_key,
    envelope,
    event_id,
    explain,
    split_body,
    validate,
)
from tests.corpus import BAD_INPUT, BAD_INPUT_IDS, Bad, encoded, good, names_field, nested


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


def intake(body: bytes, key: str | None = None) -> list[Item]:
    """What POST /v1/sessions does with a body before it publishes, in the same order."""
    items, is_array = split_body(body)
    check_idempotency_key(key, len(items))
    valid = validate(items, is_array)
    for item in valid:
        envelope("p", item, datetime.now(UTC), key)  # the event id takes the item apart too
    return valid


def test_the_corpus_starts_from_valid_sessions() -> None:
    """Each bad case changes one thing in these: the change is what gets refused."""
    assert len(intake(msgspec.json.encode(good()))) == 1
    assert len(intake(msgspec.json.encode(nested(chargerDetails=[{"accessPrice": 0}])))) == 1
    assert len(intake(msgspec.json.encode([good(id=f"s{n}") for n in range(500)]))) == 500


@pytest.mark.parametrize("case", BAD_INPUT, ids=BAD_INPUT_IDS)
def test_bad_input_is_refused_with_a_message_naming_the_field(case: Bad) -> None:
    with pytest.raises(BadInput) as refused:
        intake(encoded(case.body))
    message = str(refused.value)
    assert message.startswith(case.message), message
    assert names_field(message, case.field), f"{message!r} does not name {case.field}"


@pytest.mark.parametrize("body", [b"{not json", b"", b"[1,", b'{"id": "s"} trailing'])
def test_a_body_that_is_not_json_says_so(body: bytes) -> None:
    with pytest.raises(BadInput) as refused:
        split_body(body)
    assert str(refused.value).startswith("Body is not valid JSON: ")


@pytest.mark.parametrize(
    ("key", "count", "expected"),
    [
        (None, 1, None),
        (None, 3, None),
        ("callback-42", 1, "callback-42"),
        ("k" * 255, 1, "k" * 255),
    ],
    ids=["none", "none on a batch", "a key", "the longest key"],
)
def test_an_idempotency_key_names_the_single_event(
    key: str | None, count: int, expected: str | None
) -> None:
    assert check_idempotency_key(key, count) == expected


@pytest.mark.parametrize(
    ("key", "count", "message"),
    [
        ("callback-42", 2, "Idempotency-Key names one event; send it with a single session object"),
        ("", 1, "Idempotency-Key: Expected 1 to 255 printable ASCII characters"),
        ("k" * 256, 1, "Idempotency-Key: Expected 1 to 255 printable ASCII characters"),
        ("a\x00b", 1, "Idempotency-Key: Expected 1 to 255 printable ASCII characters"),
        ("é" * 200, 1, "Idempotency-Key: Expected 1 to 255 printable ASCII characters"),
    ],
    ids=["on a batch", "empty", "too long", "not printable", "over 255 bytes as UTF-8"],
)
def test_a_bad_idempotency_key_is_refused(key: str, count: int, message: str) -> None:
    with pytest.raises(BadInput) as refused:
        check_idempotency_key(key, count)
    assert str(refused.value) == message


def test_a_key_on_a_batch_is_refused_before_the_items_are_read() -> None:
    with pytest.raises(BadInput, match="single session object"):
        intake(msgspec.json.encode([good(), good(id="")]), key="callback-42")


@pytest.mark.parametrize(
    ("item", "root", "message"),
    [
        ({"status": "FINISHED"}, "$", "$: Object missing required field `id`"),
        (good(id=""), "$[3]", "$[3].id: Expected `str` of length >= 1"),
        (
            nested(chargerDetails=[{}, {"accessPrice": -1}]),
            "$[0]",
            "$[0].charger.chargerDetails[1].accessPrice: "
            "Expected a number from 0 to 1000000, got -1",
        ),
    ],
    ids=["missing field", "field", "nested in a list"],
)
def test_explain_roots_msgspecs_path_at_the_item(item: Any, root: str, message: str) -> None:
    with pytest.raises(msgspec.ValidationError) as error:
        msgspec.json.decode(msgspec.json.encode(item), type=Session)
    assert explain(error.value, root) == message


def test_event_id_ignores_key_order_and_whitespace_but_not_the_provider() -> None:
    one = event_id("repsol", msgspec.Raw(b'{"id":"s","status":"FINISHED","amount":1.50}'))
    same = event_id("repsol", msgspec.Raw(b'{ "amount": 1.50, "status": "FINISHED", "id": "s" }'))
    assert one == same
    assert event_id("emt", msgspec.Raw(b'{"id":"s","status":"FINISHED","amount":1.50}')) != one
    assert event_id("repsol", msgspec.Raw(b'{"id":"s","status":"FINISHED","amount":1.51}')) != one


def test_money_decodes_exactly_from_its_text() -> None:
    [item] = validate([raw({"id": "s", "status": "FINISHED", "plug_price": 1.005})], False)
    assert str(item.session.plug_price) == "1.005"


def test_every_bad_item_of_a_batch_is_named() -> None:
    items, is_array = split_body(
        b'[{"id":"a","status":"FINISHED"},{"id":""},{"status":"X","id":"c"}]'
    )
    with pytest.raises(BadInput) as caught:
        validate(items, is_array)
    assert str(caught.value) == (
        "$[1].id: Expected `str` of length >= 1; $[2].status: Invalid enum value 'X'"
    )


def test_a_single_object_is_one_item_not_an_array() -> None:
    items, is_array = split_body(b'  {"id":"a","status":"FINISHED"}')
    assert len(items) == 1 and not is_array
