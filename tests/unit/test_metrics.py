"""The metrics facade: every declared metric is exposed, and a name it does not know is an error."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from chargehook.metrics_catalog import EVERY, every_metric
from chargehook.plumbing.metrics import PLUMBING, Catalog, Metrics, Spec

COUNTERS = {name: spec for catalog in EVERY for name, spec in catalog.counters.items()}
HISTOGRAMS = {name: spec for catalog in EVERY for name, spec in catalog.histograms.items()}


def test_render_exposes_every_counter_and_histogram_with_its_help() -> None:
    text = every_metric().render()
    for name, spec in COUNTERS.items():
        assert f"# HELP {name} {spec.help}\n# TYPE {name} counter\n" in text
    for name, spec in HISTOGRAMS.items():
        assert f"# HELP {name} {spec.help}\n# TYPE {name} histogram\n" in text
    assert "_created" not in text


def test_counters_keep_their_exposed_names_and_values() -> None:
    metrics = every_metric()
    metrics.inc("chargehook_worker_messages_total", 3, worker="persist", outcome="done")
    metrics.inc("chargehook_worker_messages_total", worker="persist", outcome="done")
    metrics.inc("chargehook_publish_failures_total")
    assert metrics.value("chargehook_worker_messages_total", worker="persist", outcome="done") == 4
    assert metrics.value("chargehook_worker_messages_total", worker="persist", outcome="dead") == 0
    assert metrics.value("chargehook_publish_failures_total") == 1
    text = metrics.render()
    assert 'chargehook_worker_messages_total{outcome="done",worker="persist"} 4.0\n' in text
    assert "chargehook_publish_failures_total 1.0\n" in text


def test_observe_lands_in_the_right_bucket() -> None:
    metrics = every_metric()
    name = "chargehook_publish_confirm_seconds"
    metrics.observe(name, 0.003, exchange="chargehook.events")
    text = metrics.render()
    assert f'{name}_bucket{{exchange="chargehook.events",le="0.0025"}} 0.0\n' in text
    assert f'{name}_bucket{{exchange="chargehook.events",le="0.005"}} 1.0\n' in text
    assert f'{name}_bucket{{exchange="chargehook.events",le="+Inf"}} 1.0\n' in text
    assert f'{name}_count{{exchange="chargehook.events"}} 1.0\n' in text
    assert f'{name}_sum{{exchange="chargehook.events"}} 0.003\n' in text


def test_every_histogram_takes_an_observation_with_its_declared_labels() -> None:
    metrics = every_metric()
    for name, spec in HISTOGRAMS.items():
        metrics.observe(name, 0.2, **dict.fromkeys(spec.labels, "x"))
        assert f"{name}_count" in metrics.render()


WORKER = "chargehook_worker_messages_total"
UNDECLARED: list[Callable[[Metrics], object]] = [
    lambda m: m.inc("chargehook_no_such_total"),
    lambda m: m.observe("chargehook_no_such_seconds", 1.0),
    lambda m: m.value("chargehook_no_such_total"),
    lambda m: m.inc(WORKER, worker="persist"),  # a label missing
    lambda m: m.inc(WORKER, worker="persist", outcome="done", queue="q"),  # one too many
]


@pytest.mark.parametrize("call", UNDECLARED)
def test_what_is_not_declared_fails_loudly(call: Callable[[Metrics], object]) -> None:
    with pytest.raises(ValueError, match=r"not a declared|label"):
        call(every_metric())


def test_a_counter_is_not_a_histogram() -> None:
    with pytest.raises(ValueError, match="not a declared histogram"):
        every_metric().observe("chargehook_http_requests_total", 0.1, route="/", status="200")
    with pytest.raises(ValueError, match="not a declared counter"):
        every_metric().inc("chargehook_http_request_seconds", route="/", status="200")


def test_a_process_declares_the_catalogs_it_is_given_and_no_name_twice() -> None:
    plumbing_only = Metrics(PLUMBING).render()
    assert "chargehook_worker_messages_total" in plumbing_only
    assert "chargehook_http_requests_total" not in plumbing_only
    twice = Catalog(counters={"chargehook_worker_messages_total": Spec("again")})
    with pytest.raises(ValueError, match="Duplicated"):
        Metrics(PLUMBING, twice)


def test_the_catalogs_hold_what_docs_api_md_lists() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "api.md").read_text()
    listed = set(re.findall(r"^  \| `(chargehook_\w+)` \|", docs, re.M))
    assert listed == set(COUNTERS) | set(HISTOGRAMS)
