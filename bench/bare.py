"""The bare baseline: aiohttp + msgspec and one confirmed publish per request, nothing else.

It decodes the body into the same `Session` struct ingest validates against and publishes the
body with a publisher confirm to `chargehook.events`, where chargehook's two quorum queues
(`chargehook.persist`, `chargehook.billing`) take it. No tokens, no event id, no envelope, no
logging, no metrics: the floor that ingest's own work is measured against.

    python -m bench.bare --port 8081 --amqp-url amqp://guest:guest@127.0.0.1:5672/vhost
"""

import argparse

import aio_pika
import msgspec
import uvloop
from aiohttp import web

from bench.serving import serve_until_signalled
from chargehook.schemas import Session

EXCHANGE = "chargehook.events"
decoder = msgspec.json.Decoder(Session)
ACCEPTED = b'{"accepted":1}'


async def serve(port: int, amqp_url: str) -> None:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await channel.get_exchange(EXCHANGE, ensure=False)
    accepted = 0

    async def post(request: web.Request) -> web.Response:
        nonlocal accepted
        body = await request.read()
        try:
            session = decoder.decode(body)
        except msgspec.MsgspecError as exc:
            return web.Response(status=400, text=str(exc))
        message = aio_pika.Message(
            body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        await exchange.publish(message, f"session.{session.status.lower()}.bare", mandatory=True)
        accepted += 1
        return web.Response(body=ACCEPTED, content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        return web.Response(body=msgspec.json.encode({"accepted": accepted}))

    app = web.Application()
    app.add_routes([web.post("/v1/sessions", post), web.get("/stats", stats)])
    try:
        await serve_until_signalled(app, port)
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bare", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--amqp-url", required=True)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.amqp_url))


if __name__ == "__main__":
    main()
