"""The floors of the persist and billing drains: the same preloaded queue emptied by a bare
consumer (bench/bare_consumer.py) in the same run, so each worker's rate reads as a ratio."""

import asyncio
import sys
import uuid

import msgspec

from bench.report import Row
from bench.stages import DRAINS, Bench, preload
from lab import bodies

MODES = {"persist": ("ack", 500), "billing": ("relay", 250)}  # the workers' batch sizes
LABELS = {
    "persist": "3 bare consumer (consume, one ack per batch)",
    "billing": "4 bare relay (consume, confirmed publish, one ack per batch)",
}


async def settled_depth(bench: Bench, queue: str, within: float = 10.0) -> int:
    """The queue's depth once the acks of the last batch reached it (a quorum queue counts
    them a moment after the consumer sent them)."""
    left = 0
    for _ in range(round(within / 0.1)):
        left = (await bench.lab.queue_state(queue))[0]
        if not left:
            break
        await asyncio.sleep(0.1)
    return left


async def floor_stage(bench: Bench, kind: str, events: int) -> None:
    """`events` preloaded as for the worker, then drained by the bare consumer alone."""
    lab = bench.lab
    queue = DRAINS[kind][0]
    provider = f"bench-floor-{kind}-{uuid.uuid4().hex[:6]}"
    tag = uuid.uuid4().hex[:8]
    messages = [
        bodies.event_message(provider, bodies.encode(bodies.item(f"{tag}-{n}")))
        for n in range(events)
    ]
    await preload(lab, queue, messages)
    preloaded = (await lab.queue_state(queue))[0]
    mode, batch = MODES[kind]
    args = [sys.executable, "-m", "bench.bare_consumer", mode, "--amqp-url", lab.amqp_url]
    args += ["--queue", queue, "--count", str(events), "--batch", str(batch)]
    servers_before = {server.name: server.cpu_seconds() for server in bench.servers}
    child = await lab.children.start(f"bare-{mode}", args, stdout_pipe=True)
    result = msgspec.json.decode(await lab.children.output(child, bench.plan.drain_timeout))
    servers_note = servers_cpu_note(bench, servers_before, int(result["done"]))
    rate = result["done"] / result["seconds"] if result["seconds"] > 0 else 0.0
    bench.floors[kind] = rate
    left = await settled_depth(bench, queue)
    bench.rows(
        Row(
            stage=LABELS[kind],
            figure=rate,
            unit="events/s",
            vs_bare=1.0,
            ledger={"preloaded": preloaded, "done": int(result["done"]), "left": left},
            balanced=preloaded == events == result["done"] and left == 0,
            note="the floor the worker's ratio is taken to" + servers_note,
        )
    )
    await lab.purge()


def servers_cpu_note(bench: Bench, before: dict[str, float | None], events: int) -> str:
    """What the servers here spent per event while the bare consumer alone drained: the
    broker's own floor per message (batches of the worker's size)."""
    parts = []
    for server in bench.servers:
        start, end = before.get(server.name), server.cpu_seconds()
        if start is not None and end is not None and events:
            parts.append(f"{server.name} {(end - start) / events * 1e6:.0f} µs")
    return f"; CPU per event meanwhile: {', '.join(parts)}" if parts else ""
