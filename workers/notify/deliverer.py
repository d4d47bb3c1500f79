"""The deliverer's consumer: each delivery task read off `chargehook.deliveries` and handed to
the webhooks room's Deliverer, many side by side."""

import msgspec

from chargehook.plumbing.broker import Inbound
from chargehook.plumbing.errors import RejectMessage
from chargehook.schemas import DeliveryTask
from chargehook.webhooks import tasks
from chargehook.webhooks.delivering import Deliverer

task_decoder = msgspec.json.Decoder(DeliveryTask)


class DeliveryConsumer:
    """Decodes a task message and delivers it; one at a time per message, many at once."""

    name = "deliver"
    queue = tasks.DELIVERY_QUEUE

    def __init__(self, deliverer: Deliverer) -> None:
        self.deliverer = deliverer
        self.concurrency = deliverer.concurrency

    def decode(self, message: Inbound) -> DeliveryTask:
        try:
            task = task_decoder.decode(message.body)
        except msgspec.MsgspecError as exc:
            raise RejectMessage(f"not a delivery task: {exc}") from None
        if not task.ids:
            raise RejectMessage("a delivery task without deliveries")
        return task

    async def handle_one(self, task: DeliveryTask) -> None:
        await self.deliverer.deliver_task(task)
