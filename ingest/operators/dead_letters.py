"""The dead-letter API of docs/api.md: list a work queue's dead letters, replay or drop them."""

import msgspec
from aiohttp import web

from chargehook.dead_letters import actions as dead_letters
from chargehook.ingest.context import admin, json_response, read_json
from chargehook.ingest.errors import ApiError
from chargehook.plumbing.broker import QueueSpec
from chargehook.schemas import DeadLetterPick, DeadLetterQueue, Settled

pick_decoder = msgspec.json.Decoder(DeadLetterPick)


def queue_of(request: web.Request, queues: tuple[QueueSpec, ...]) -> QueueSpec:
    name = request.match_info["queue"]
    found = dead_letters.queue_named(name, queues)
    if found is None:
        known = ", ".join(queue.name for queue in queues)
        raise ApiError(404, f"No work queue {name!r}; the queues are {known}")
    return found


async def list_queues(request: web.Request) -> web.Response:
    ingest = await admin(request)
    named = (
        DeadLetterQueue(queue=q.name, dead_letter_queue=q.dead_letter_queue) for q in ingest.queues
    )
    return json_response(list(named))


async def list_dead(request: web.Request) -> web.Response:
    ingest = await admin(request)
    queue = queue_of(request, ingest.queues)
    return json_response(await dead_letters.list_dead(ingest.broker, queue))


async def replay_dead(request: web.Request) -> web.Response:
    ingest = await admin(request)
    queue, ids = queue_of(request, ingest.queues), await picked(request)
    return json_response(Settled(count=await dead_letters.replay_dead(ingest.broker, queue, ids)))


async def drop_dead(request: web.Request) -> web.Response:
    ingest = await admin(request)
    queue, ids = queue_of(request, ingest.queues), await picked(request)
    return json_response(Settled(count=await dead_letters.drop_dead(ingest.broker, queue, ids)))


async def picked(request: web.Request) -> list[str] | None:
    """The ids asked for, or None for all; asking for neither, or both, is a 400."""
    pick = await read_json(request, pick_decoder)
    if pick.all == (pick.ids is not None):
        raise ApiError(400, '$: Expected either "ids": [...] or "all": true')
    return pick.ids
