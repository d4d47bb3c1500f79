"""A subscriber's endpoint on loopback: records every request, answers as the test scripts it."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.test_utils import TestServer

exact = msgspec.json.Decoder(float_hook=Decimal)


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = exact.decode(self.body)
        return items

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


Answer = Callable[[Received, int], Awaitable[web.Response]]


async def ok(received: Received, count: int) -> web.Response:
    return web.Response(text="ok")


@dataclass
class Receiver:
    answer: Answer = ok
    received: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def items(self) -> list[dict[str, Any]]:
        """Every session object received, in arrival order, whatever request carried it."""
        return [item for received in self.received for item in received.items]

    async def handle(self, request: web.Request) -> web.Response:
        received = Received(dict(request.headers), await request.read())
        self.received.append(received)
        self.arrived.set()
        return await self.answer(received, len(self.received))


@asynccontextmanager
async def receiving(answer: Answer = ok) -> AsyncIterator[Receiver]:
    receiver = Receiver(answer)
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        receiver.url = str(server.make_url("/hook"))
        yield receiver
