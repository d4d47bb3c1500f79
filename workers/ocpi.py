"""ocpi: the worker kind that takes in OCPI pushes (`ocpi.merging.take_in`), reading
`chargehook.ocpi` in batches, and publishes each merged Session page-shaped."""

from collections.abc import Sequence
from dataclasses import dataclass

from chargehook.ocpi.merging import read_push, take_in
from chargehook.plumbing.broker import EVENTS_EXCHANGE, Broker, Inbound, QueueSpec
from chargehook.plumbing.database import Pool
from chargehook.schemas import OcpiPush

QUEUE = QueueSpec("chargehook.ocpi", EVENTS_EXCHANGE, ("ocpi.#",))


@dataclass
class OcpiWorker:
    pool: Pool
    broker: Broker
    prefetch: int
    batch_size: int
    name: str = "ocpi"
    queue: QueueSpec = QUEUE

    def decode(self, message: Inbound) -> OcpiPush:
        return read_push(message.body)

    async def handle(self, batch: Sequence[OcpiPush]) -> None:
        await take_in(self.pool, self.broker, batch)
