"""Worker kinds, one module each, registered in one explicit table."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from infra.broker import Broker, QueueSpec
from infra.config import Settings
from infra.consume import Worker
from infra.database import Pool
from workers import persist


@dataclass(frozen=True)
class WorkerKind:
    queue: QueueSpec
    build: Callable[[Settings, Pool, Broker], Worker[Any]]


def _persist(settings: Settings, pool: Pool, broker: Broker) -> Worker[Any]:
    return persist.PersistWorker(pool, settings.persist_prefetch, settings.persist_batch_size)


WORKERS: dict[str, WorkerKind] = {
    "persist": WorkerKind(persist.QUEUE, _persist),
}
ALL_QUEUES = tuple(kind.queue for kind in WORKERS.values())
