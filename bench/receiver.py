"""A fast subscriber: answers 204, checks signatures on a sample, counts and times every item.

A webhook body is a JSON array of session objects (up to the subscription's `batch_size` per
POST, docs/delivery.md#batches), so it counts items, not requests. An item is the same item
again when its `webhook-id`, `id` and `position` are; repeats are counted and not counted as
delivered. Per session it checks that `position` never goes backwards. Each new item's arrival
time is kept with the `bench_sent_at` the load generator put into it, so the bench reads
event-to-delivery latency back.

    python -m bench.receiver --port 9000 [--secret whsec_...] [--verify-every 50]

GET /stats (counts), GET /dump (arrivals and send times), POST /reset (the body: the session id
prefix of the stage's items; others are not counted), POST /secret (the body), POST /hang (the
body: seconds; until then every request waits, at most 10 s, and is answered 503 unread, as a
receiver that hangs and dies would).
"""

import argparse
import asyncio
import math
import time

import msgspec
import uvloop
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bench.serving import serve_until_signalled


class Delivered(msgspec.Struct):
    id: str
    position: str = ""
    status: str = ""
    bench_sent_at: float | None = None


class Stats(msgspec.Struct):
    requests: int = 0
    items: int = 0
    duplicates: int = 0
    regressions: int = 0
    verified: int = 0
    bad_signatures: int = 0
    undecodable: int = 0
    foreign: int = 0  # items of sessions outside the current stage's prefix, not counted
    finals: int = 0  # sessions whose FINISHED state arrived
    hung: int = 0  # requests answered 503 unread while hanging


class Dump(msgspec.Struct):
    arrived: list[float]
    sent: list[float]  # NaN where the item had no bench_sent_at


decoder = msgspec.json.Decoder(list[Delivered])


class Receiver:
    def __init__(self, secret: str | None, verify_every: int) -> None:
        self.webhook = Webhook(secret) if secret else None
        self.verify_every = max(verify_every, 1)
        self.reset()

    def reset(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.stats = Stats()
        self.seen: set[tuple[str, str, str]] = set()
        self.newest: dict[str, str] = {}
        self.finished: set[str] = set()
        self.dump = Dump([], [])
        self.hang_until = 0.0

    async def hook(self, request: web.Request) -> web.Response:
        if (wait := self.hang_until - time.time()) > 0:
            await asyncio.sleep(min(wait, 10.0))
            self.stats.hung += 1
            return web.Response(status=503)
        body = await request.read()
        now = time.time()
        stats = self.stats
        stats.requests += 1
        if self.webhook is not None and stats.requests % self.verify_every == 1 % self.verify_every:
            try:
                self.webhook.verify(body, dict(request.headers))
                stats.verified += 1
            except WebhookVerificationError:
                stats.bad_signatures += 1
        try:
            items = decoder.decode(body)
        except msgspec.MsgspecError:
            stats.undecodable += 1
            return web.Response(status=204)
        webhook_id = request.headers.get("webhook-id", "")
        for item in items:
            if not item.id.startswith(self.prefix):
                stats.foreign += 1  # a straggler of an earlier stage
                continue
            key = (webhook_id, item.id, item.position)
            if key in self.seen:
                stats.duplicates += 1
                continue
            self.seen.add(key)
            stats.items += 1
            newest = self.newest.get(item.id)
            if newest is not None and item.position < newest:
                stats.regressions += 1
            else:
                self.newest[item.id] = item.position
            if item.status == "FINISHED" and item.id not in self.finished:
                self.finished.add(item.id)
                stats.finals += 1
            self.dump.arrived.append(now)
            self.dump.sent.append(math.nan if item.bench_sent_at is None else item.bench_sent_at)
        return web.Response(status=204)

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(self.stats), content_type="application/json")

    async def get_dump(self, request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode(self.dump), content_type="application/json")

    async def post_reset(self, request: web.Request) -> web.Response:
        self.reset(await request.text())
        return web.Response(status=204)

    async def post_hang(self, request: web.Request) -> web.Response:
        self.hang_until = time.time() + float(await request.text())
        return web.Response(status=204)

    async def post_secret(self, request: web.Request) -> web.Response:
        self.webhook = Webhook((await request.text()).strip())
        return web.Response(status=204)


async def serve(port: int, secret: str | None, verify_every: int) -> None:
    receiver = Receiver(secret, verify_every)
    app = web.Application(client_max_size=64 << 20)
    app.add_routes(
        [
            web.post("/hook", receiver.hook),
            web.get("/stats", receiver.get_stats),
            web.get("/dump", receiver.get_dump),
            web.post("/reset", receiver.post_reset),
            web.post("/secret", receiver.post_secret),
            web.post("/hang", receiver.post_hang),
        ]
    )
    await serve_until_signalled(app, port)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receiver", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", help="the subscription's signing secret, whsec_...")
    parser.add_argument("--verify-every", type=int, default=50, help="check 1 request in N")
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.secret, args.verify_every))


if __name__ == "__main__":
    main()
