"""The process's metrics on prometheus-client: every counter and histogram chargehook exposes.

`Metrics` is a thin facade: each instance owns a `CollectorRegistry` with every metric below
declared on it (so tests can make as many as they like), and call sites name a metric by its
exposed name with `inc`, `observe` and `value`. A name or label set not declared here is an
error, not a silently new series.
"""

from dataclasses import dataclass
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


# Counters by their exposed name; prometheus-client adds the `_total` these end in itself.
COUNTERS = {
    "chargehook_http_requests_total": Spec(
        "HTTP answers by route and status code", ("route", "status")
    ),
    "chargehook_events_accepted_total": Spec(
        "Session events confirmed by the broker, by provider", ("provider",)
    ),
    "chargehook_publish_failures_total": Spec("Publishes the broker did not confirm in time"),
    "chargehook_worker_messages_total": Spec(
        "Messages finished by a worker, by outcome", ("worker", "outcome")
    ),
    "chargehook_worker_failures_total": Spec(
        "Failed tries at a message's work, by whom they were blamed on: infrastructure (a"
        " database, broker or network fault; kept in hand and tried again after a back-off) or"
        " message (it failed on its own; counted toward the dead-letter limit)",
        ("worker", "blamed_on"),
    ),
    "chargehook_worker_dead_letters_total": Spec(
        "Messages a worker dead-lettered as bad, by cause: undecodable or failed (the limit)",
        ("worker", "cause"),
    ),
    "chargehook_billing_mismatches_total": Spec(
        "Bills whose provider figures differ by more than 0.01", ("provider",)
    ),
    "chargehook_billing_incomplete_total": Spec(
        "Bills that could not be computed, the reason logged", ("provider",)
    ),
    "chargehook_deliveries_total": Spec(
        "Delivery attempts and supersessions, by outcome", ("outcome",)
    ),
    "chargehook_subscriptions_disabled_total": Spec(
        "Subscriptions disabled by a 410 or poor health"
    ),
}

# Upper bounds in seconds. A request and a publish confirm are milliseconds when all is well
# and end at the publish timeout (5 s by default); a batch is one transaction of up to a few
# hundred rows; an attempt ends at the 15 s request timeout.
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ATTEMPT = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 20.0)
# From acceptance to a subscriber's 2xx: a second on the first attempt, hours through the
# retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
END_TO_END = (
    *(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    *(300.0, 1800.0, 7200.0, 18000.0, 36000.0, 86400.0),
)


@dataclass(frozen=True)
class HistogramSpec(Spec):
    buckets: tuple[float, ...] = FAST


HISTOGRAMS = {
    "chargehook_http_request_seconds": HistogramSpec(
        "Ingest request latency, by route and status code", ("route", "status"), FAST
    ),
    "chargehook_publish_confirm_seconds": HistogramSpec(
        "Time from a publish to the broker's confirm, by exchange (confirmed publishes only)",
        ("exchange",),
        FAST,
    ),
    "chargehook_worker_batch_seconds": HistogramSpec(
        "Time a worker takes to handle one batch, by worker", ("worker",), BATCH
    ),
    "chargehook_delivery_attempt_seconds": HistogramSpec(
        "Time of one delivery attempt to a subscriber, by outcome", ("outcome",), ATTEMPT
    ),
    "chargehook_event_to_delivery_seconds": HistogramSpec(
        "Time from ingest accepting an event to a subscriber's 2xx for it", (), END_TO_END
    ),
}


class Metrics:
    """One per process (or per test): its own registry with every metric declared."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._counters = {
            name: Counter(name, spec.help, spec.labels, registry=self.registry)
            for name, spec in COUNTERS.items()
        }
        self._histograms = {
            name: Histogram(
                name, spec.help, spec.labels, registry=self.registry, buckets=spec.buckets
            )
            for name, spec in HISTOGRAMS.items()
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
        raise ValueError(f"{name} is not a declared {kind}; add it to plumbing.metrics") from None
