import msgspec
import pytest

from chargehook.ingest.intake import BadInput, event_id, split_body, validate


def raw(value: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(value))


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
