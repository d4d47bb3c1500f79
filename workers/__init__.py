"""Worker kinds, one module each, registered in one explicit table."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.broker import Broker, QueueSpec
from infra.config import Settings
from infra.consume import Worker
from infra.database import Pool
from infra.metrics import Metrics
from workers import billing, persist


@dataclass(frozen=True)
class Deps:
    """What a worker may be built from; the composition root fills it in."""

    settings: Settings
    pool: Pool
    broker: Broker
    metrics: Metrics


@dataclass(frozen=True)
class WorkerKind:
    queue: QueueSpec
    build: Callable[[Deps], Worker[Any]]


def _persist(deps: Deps) -> Worker[Any]:
    s = deps.settings
    return persist.PersistWorker(deps.pool, s.persist_prefetch, s.persist_batch_size)


def _billing(deps: Deps) -> Worker[Any]:
    s = deps.settings
    return billing.BillingWorker(
        deps.pool, deps.broker, deps.metrics, s.billing_prefetch, s.billing_batch_size
    )


WORKERS: dict[str, WorkerKind] = {
    "persist": WorkerKind(persist.QUEUE, _persist),
    "billing": WorkerKind(billing.QUEUE, _billing),
}
ALL_QUEUES = tuple(kind.queue for kind in WORKERS.values())
