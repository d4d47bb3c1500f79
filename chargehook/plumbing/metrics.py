"""A small in-process counter registry rendered as Prometheus text; one per process."""

from collections import Counter
from collections.abc import Iterable

LabelSet = tuple[tuple[str, str], ...]

HELP = {
    "chargehook_http_requests_total": "HTTP answers by route and status code",
    "chargehook_events_accepted_total": "Session events confirmed by the broker, by provider",
    "chargehook_publish_failures_total": "Publishes the broker did not confirm in time",
    "chargehook_worker_messages_total": "Messages finished by a worker, by outcome",
    "chargehook_billing_mismatches_total": "Bills whose provider figures differ by more than 0.01",
    "chargehook_billing_incomplete_total": "Bills that could not be computed, the reason logged",
    "chargehook_deliveries_total": "Delivery attempts and supersessions, by outcome",
    "chargehook_subscriptions_disabled_total": "Subscriptions disabled by a 410 or poor health",
}


class Metrics:
    def __init__(self) -> None:
        self._counts: Counter[tuple[str, LabelSet]] = Counter()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        self._counts[(name, tuple(sorted(labels.items())))] += amount

    def value(self, name: str, **labels: str) -> int:
        return self._counts[(name, tuple(sorted(labels.items())))]

    def render(self) -> str:
        lines: list[str] = []
        for name in sorted({name for name, _ in self._counts} | set(HELP)):
            lines += [f"# HELP {name} {HELP.get(name, name)}", f"# TYPE {name} counter"]
            lines += [
                f"{name}{_labels(labels)} {count}"
                for (metric, labels), count in sorted(self._counts.items())
                if metric == name
            ]
        return "\n".join(lines) + "\n"


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    parts = [f'{key}="{_escape(value)}"' for key, value in labels]
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
