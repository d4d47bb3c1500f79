"""The process's metrics on prometheus-client.

`Metrics` is a thin facade: each instance owns a `CollectorRegistry` with the metrics of the
catalogs it was given declared on it (so tests can make as many as they like), and call sites
name a metric by its exposed name with `inc`, `observe` and `value`. A name or label set not
declared is an error, not a silently new series. Each room declares its own metrics in a
`Catalog` (the plumbing's are `PLUMBING`, below); `chargehook.metrics_catalog` gathers them all.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram

Metric = TypeVar("Metric", Counter, Histogram)

# What a /metrics endpoint answers with: the text exposition format prometheus-client writes.
CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST

# No `<name>_created` series beside each counter and histogram: the exposed names stay these.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Spec:
    help: str
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """The metrics one room declares, by exposed name (prometheus-client adds the `_total`
    counters end in itself). The composition root hands every room's to `Metrics`."""

    counters: Mapping[str, Spec] = field(default_factory=dict)
    histograms: Mapping[str, "HistogramSpec"] = field(default_factory=dict)


# Upper bounds in seconds. A request and a publish confirm are milliseconds when all is well
# and end at the publish timeout (5 s by default); a batch is one transaction of up to a few
# hundred rows.
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class HistogramSpec(Spec):
    buckets: tuple[float, ...] = FAST


# What the plumbing itself measures: the consume loops and the broker.
PLUMBING = Catalog(
    counters={
        "chargehook_worker_messages_total": Spec(
            "Messages finished by a worker, by outcome", ("worker", "outcome")
        ),
        "chargehook_worker_failures_total": Spec(
            "Failed tries at a message's work, by whom they were blamed on: infrastructure (a"
            " database, broker or network fault; kept in hand and tried again after a back-off)"
            " or message (it failed on its own; counted toward the dead-letter limit)",
            ("worker", "blamed_on"),
        ),
        "chargehook_worker_dead_letters_total": Spec(
            "Messages a worker dead-lettered as bad, by cause: undecodable or failed (the limit)",
            ("worker", "cause"),
        ),
        "chargehook_broker_published_total": Spec(
            "Messages this process published and the broker confirmed, by exchange", ("exchange",)
        ),
    },
    histograms={
        "chargehook_publish_confirm_seconds": HistogramSpec(
            "Time from a publish to the broker's confirm, by exchange (confirmed publishes only)",
            ("exchange",),
            FAST,
        ),
        "chargehook_worker_batch_seconds": HistogramSpec(
            "Time a worker takes to handle one batch, by worker", ("worker",), BATCH
        ),
    },
)


class Metrics:
    """One per process (or per test): its own registry with the catalogs' metrics declared."""

    def __init__(self, *catalogs: Catalog) -> None:
        self.registry = CollectorRegistry()  # refuses a name declared twice
        self._counters = {
            name: Counter(name, spec.help, spec.labels, registry=self.registry)
            for catalog in catalogs
            for name, spec in catalog.counters.items()
        }
        self._histograms = {
            name: Histogram(
                name, spec.help, spec.labels, registry=self.registry, buckets=spec.buckets
            )
            for catalog in catalogs
            for name, spec in catalog.histograms.items()
        }
        self._children: dict[tuple[object, ...], Any] = {}

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self._child(self._counters, name, "counter", labels).inc(amount)

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self._child(self._histograms, name, "histogram", labels).observe(seconds)

    def _child(
        self, declared: dict[str, Metric], name: str, kind: str, labels: dict[str, str]
    ) -> Any:
        # prometheus-client's labels() validates and locks on every call; hot paths call
        # with a handful of label sets, so each child is looked up once
        key = (name, *labels.items())
        child = self._children.get(key)
        if child is None:
            family = _known(declared, name, kind)
            child = self._children[key] = family.labels(**labels) if labels else family
        return child

    def value(self, name: str, **labels: str) -> int:
        """A counter's current value for exactly these labels; 0 before its first inc."""
        _known(self._counters, name, "counter")
        found = self.registry.get_sample_value(name, labels)
        return 0 if found is None else int(found)

    def render(self) -> str:
        """Every metric in the Prometheus text format, to serve with CONTENT_TYPE."""
        return prometheus_client.generate_latest(self.registry).decode()


def _known(declared: dict[str, Metric], name: str, kind: str) -> Metric:
    try:
        return declared[name]
    except KeyError:
        raise ValueError(f"{name} is not a declared {kind}; add it to its room's catalog") from None
