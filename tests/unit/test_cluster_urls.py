"""Several broker URLs (chargehook.plumbing.cluster): parsed, taken in turn, and the management
API found from them."""

import pytest

from chargehook.plumbing.cluster import (
    Nodes,
    Placement,
    broker_urls,
    management_urls,
    placement_lines,
    vhost_of,
)
from chargehook.plumbing.errors import ConfigError

A, B, C = (f"amqp://u:p@10.0.0.{n}:5672/" for n in (1, 2, 3))


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        (A, [A]),
        (f"{A},{B},{C}", [A, B, C]),
        (f" {A} , {B} ", [A, B]),
        ("amqps://u:p@broker.example:5671/vh", ["amqps://u:p@broker.example:5671/vh"]),
    ],
)
def test_one_url_or_several(text: str, urls: list[str]) -> None:
    assert broker_urls(text) == urls


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (f"{A},", "an empty URL"),
        (f"{A},,{B}", "an empty URL"),
        ("http://10.0.0.1:5672/", "is no amqp"),
        ("amqp://", "is no amqp"),
        (f"{A},{A}", "a URL twice"),
    ],
)
def test_a_bad_list_is_a_config_error(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        broker_urls(text)


def test_the_nodes_are_taken_in_turn() -> None:
    nodes = Nodes([A, B, C])
    assert [nodes.url(), nodes.advance(), nodes.advance(), nodes.advance()] == [A, B, C, A]


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        (None, ["http://u:p@10.0.0.1:15672", "http://u:p@10.0.0.2:15672"]),
        ("http://m:1/, http://m:2/", ["http://m:1/", "http://m:2/"]),
    ],
)
def test_the_management_api_of_each_node(configured: str | None, expected: list[str]) -> None:
    assert management_urls([A, B], configured) == expected


@pytest.mark.parametrize(
    ("url", "vhost"),
    [(A, "/"), ("amqp://u:p@h:5672", "/"), ("amqp://u:p@h:5672/bench-1", "bench-1"),
     ("amqp://u:p@h:5672/%2Fx", "/x")],
)  # fmt: skip
def test_the_vhost_of_a_url(url: str, vhost: str) -> None:
    assert vhost_of(url) == vhost


def test_the_table_of_placements() -> None:
    three = ["c1@localhost", "c2@localhost", "c3@localhost"]
    lines = placement_lines([
        Placement("chargehook.persist", "c2@localhost", three, three[1:]),
        Placement("chargehook.billing.dead", None, [], []),
    ])  # fmt: skip
    assert lines[1].split() == [
        "chargehook.persist", "c2@localhost", "c1@localhost,", "c2@localhost,", "c3@localhost",
        "(2", "of", "3", "online)",
    ]  # fmt: skip
    assert lines[2].split() == ["chargehook.billing.dead", "-", "-", "(0", "of", "0", "online)"]
