"""The bare consumers: the floor of a worker's drain, measured on the same queue and messages.

`ack`: consume with the worker's prefetch and ack each batch in one frame, nothing else: what
one Python process on aiormq can take from a quorum queue at all (persist's floor).
`relay`: the same, and every message published again with a confirm to `chargehook.billed`
with the worker's headers before its batch is acked (billing's floor: billing does this plus
the bill). Both run on uvloop, as chargehook does. It prints one JSON line:
{"done": n, "seconds": t}, timed from the consumer's start to the last ack.

    python -m bench.bare_consumer ack --queue chargehook.persist --count 20000 --amqp-url ...
"""

import argparse
import asyncio
import time

import aiormq
import msgspec
import uvloop
from aiormq.abc import DeliveredMessage

BILLED = "chargehook.billed"


async def drain(mode: str, url: str, queue: str, count: int, batch: int) -> dict[str, float]:
    connection = await aiormq.connect(url)
    channel = await connection.channel()
    publisher = await connection.channel(publisher_confirms=True)
    await channel.basic_qos(prefetch_count=batch * 4)
    inbox: asyncio.Queue[DeliveredMessage] = asyncio.Queue()

    async def deliver(message: DeliveredMessage) -> None:
        inbox.put_nowait(message)

    started = time.perf_counter()
    await channel.basic_consume(queue, deliver)
    done = 0
    while done < count:
        messages = [await inbox.get()]
        while len(messages) < batch and not inbox.empty():
            messages.append(inbox.get_nowait())
        if mode == "relay":
            await asyncio.gather(*(_republish(publisher, m) for m in messages))
        tag = messages[-1].delivery_tag
        assert tag is not None
        await channel.basic_ack(tag, multiple=True)
        done += len(messages)
    seconds = time.perf_counter() - started
    await connection.close()
    return {"done": done, "seconds": seconds}


async def _republish(publisher: aiormq.abc.AbstractChannel, message: DeliveredMessage) -> None:
    properties = aiormq.spec.Basic.Properties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message.header.properties.message_id,
        headers=dict(message.header.properties.headers or {}),
    )
    await publisher.basic_publish(
        message.body, exchange=BILLED, routing_key=message.routing_key or "", properties=properties
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare_consumer", description=__doc__)
    parser.add_argument("mode", choices=["ack", "relay"])
    parser.add_argument("--amqp-url", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    result = uvloop.run(drain(args.mode, args.amqp_url, args.queue, args.count, args.batch))
    print(msgspec.json.encode(result).decode(), flush=True)


if __name__ == "__main__":
    main()
