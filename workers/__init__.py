"""Worker kinds, one module each, registered in one explicit table."""

from collections.abc import Callable
from dataclasses import dataclass

from chargehook.plumbing.broker import Broker, QueueSpec
from chargehook.plumbing.consume import Consumer, Service
from chargehook.plumbing.database import Pool, answering
from chargehook.plumbing.metrics import Metrics
from chargehook.plumbing.settings import Settings
from chargehook.webhooks.tasks import delay_queues
from chargehook.workers import billing, notify, ocpi, persist


@dataclass(frozen=True)
class Deps:
    """What a worker may be built from; the composition root fills it in."""

    settings: Settings
    pool: Pool
    broker: Broker
    metrics: Metrics


@dataclass(frozen=True)
class WorkerKind:
    queues: tuple[QueueSpec, ...]
    build: Callable[[Deps], Service]


def _persist(deps: Deps) -> Service:
    s = deps.settings
    worker = persist.PersistWorker(deps.pool, s.persist_prefetch, s.persist_batch_size)
    return Consumer(deps.broker, worker, deps.metrics, answering(deps.pool))


def _billing(deps: Deps) -> Service:
    s = deps.settings
    worker = billing.BillingWorker(
        deps.pool, deps.broker, deps.metrics, s.billing_prefetch, s.billing_batch_size
    )
    return Consumer(deps.broker, worker, deps.metrics, answering(deps.pool))


def _ocpi(deps: Deps) -> Service:
    s = deps.settings
    worker = ocpi.OcpiWorker(deps.pool, deps.broker, s.ocpi_prefetch, s.ocpi_batch_size)
    return Consumer(deps.broker, worker, deps.metrics, answering(deps.pool))


def _notify(deps: Deps) -> Service:
    return notify.NotifyService(deps.settings, deps.pool, deps.broker, deps.metrics)


WORKERS: dict[str, WorkerKind] = {
    "persist": WorkerKind((persist.QUEUE,), _persist),
    "billing": WorkerKind((billing.QUEUE,), _billing),
    "notify": WorkerKind(notify.QUEUES, _notify),
    "ocpi": WorkerKind((ocpi.QUEUE,), _ocpi),
}
__all__ = ["ALL_QUEUES", "WORKERS", "Deps", "WorkerKind", "delay_queues"]
ALL_QUEUES = tuple(queue for kind in WORKERS.values() for queue in kind.queues)
