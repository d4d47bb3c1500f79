"""The Python load client, run as its own process; it prints one JSON line of results.

flood: `--connections` requests in flight for `--duration` seconds (or `--count` requests),
       every request a new session; used for throughput when wrk is not installed. With
       `--ocpi CC/PID` each request is an OCPI Session `PUT` to `--url` + its session id (the
       body's `id` the same), with `Authorization: Token <Base64>`; else a page-shaped `POST`
       to `--url` with `Authorization: Bearer`.
paced: `--rate` events a second for `--duration` seconds; each session sends IN_PROGRESS, then
       FINISHED `--gap` seconds later (and never before the IN_PROGRESS was answered). Every
       item carries its send time in `bench_sent_at`, which chargehook delivers verbatim. The
       load is open: an event is sent at its time whether earlier ones were answered or not,
       unless `--backlog` seconds of load already wait for an answer; then the session is shed
       (not sent, counted), so an overloaded server is reported, not hidden or waited out.
"""

import argparse
import asyncio
import base64
import time
import uuid
from dataclasses import dataclass, field

import aiohttp
import msgspec
import uvloop

from lab import bodies

MAX_REQUESTS = 5_000_000  # a bound on any run, whatever the flags say


class Result(msgspec.Struct):
    client: str
    sent: int
    ok: int
    non2xx: int
    errors: int
    elapsed: float
    p50_ms: float | None
    p99_ms: float | None
    statuses: dict[str, int]
    behind_ms: float = 0.0  # paced: the latest a request left after its scheduled time
    shed: int = 0  # paced: events not sent because the backlog bound was reached
    abandoned: int = 0  # requests still unanswered when the run's time bound was reached
    cpu_seconds: float = 0.0  # the Python client's own CPU time over its run (wrk: not told)


@dataclass(frozen=True)
class Shape:
    """What each request of a flood is; `prefix + session id + suffix` is its body."""

    method: str
    authorization: str  # the Authorization header's whole value
    prefix: bytes
    suffix: bytes
    id_in_path: bool  # OCPI: the session id is the URL's last part too

    def url(self, base: str, session_id: str) -> str:
        return base + session_id if self.id_in_path else base


def shape(token: str, ocpi_party: str | None = None) -> Shape:
    """Page-shaped POSTs with the provider's bearer token, or, with `ocpi_party` ("CC/PID"),
    OCPI Session PUTs with token C Base64-encoded as OCPI 2.2.1 sends it."""
    if ocpi_party is None:
        return Shape("POST", f"Bearer {token}", *bodies.template(), id_in_path=False)
    country_code, party_id = ocpi_party.split("/")
    encoded = base64.b64encode(token.encode()).decode()
    prefix, suffix = bodies.ocpi_template(country_code, party_id)
    return Shape("PUT", f"Token {encoded}", prefix, suffix, id_in_path=True)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


@dataclass
class Client:
    url: str
    authorization: str  # the Authorization header's whole value
    http: aiohttp.ClientSession
    method: str = "POST"
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    ok: int = 0
    errors: int = 0

    async def send(self, body: bytes, url: str | None = None) -> bool:
        self.sent += 1
        headers = {"Authorization": self.authorization, "Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            request = self.http.request(self.method, url or self.url, data=body, headers=headers)
            async with request as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError):
            self.errors += 1
            return False
        self.latencies.append((time.perf_counter() - started) * 1000)
        self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
        if 200 <= status < 300:
            self.ok += 1
            return True
        return False

    def result(self, elapsed: float, behind_ms: float = 0.0) -> Result:
        return Result(
            client="python",
            sent=self.sent,
            ok=self.ok,
            non2xx=self.sent - self.ok - self.errors,
            errors=self.errors,
            elapsed=elapsed,
            p50_ms=percentile(self.latencies, 50),
            p99_ms=percentile(self.latencies, 99),
            statuses=self.statuses,
            behind_ms=behind_ms,
        )


async def flood(
    client: Client, how: Shape, connections: int, duration: float, count: int, tag: str
) -> Result:
    started = time.monotonic()
    deadline = started + duration
    limit = min(count, MAX_REQUESTS)
    issued = 0

    async def worker(n: int) -> None:
        nonlocal issued
        while time.monotonic() < deadline and issued < limit:
            issued += 1
            session_id = f"{tag}-{n}-{issued}"
            body = how.prefix + session_id.encode() + how.suffix
            await client.send(body, how.url(client.url, session_id))

    await asyncio.gather(*(worker(n) for n in range(connections)))
    return client.result(time.monotonic() - started)


async def paced(
    client: Client, rate: float, duration: float, gap: float, backlog: float, tag: str
) -> Result:
    """`rate` events/s: sessions start at rate/2 a second, each posting two states."""
    sessions = min(max(1, round(rate * duration / 2)), MAX_REQUESTS // 2)
    interval = 2 / rate
    behind, waiting, shed = 0.0, 0, 0
    most_waiting = max(1, round(rate * backlog))
    started = time.monotonic()
    tasks: set[asyncio.Task[None]] = set()

    async def send(session: str, status: str, minute: int, due: float) -> bool:
        nonlocal behind, waiting
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        behind = max(behind, time.monotonic() - due)
        body = bodies.encode(bodies.item(session, status, minute, sent_at=time.time()))
        waiting += 1
        try:
            return await client.send(body)
        finally:
            waiting -= 1

    async def session(k: int) -> None:
        nonlocal shed
        start = started + k * interval
        name = f"{tag}-{k}"
        if waiting >= most_waiting:
            shed += 2  # both of its states: a session is sent whole or not at all
            return
        if await send(name, "IN_PROGRESS", 0, start):
            await send(name, "FINISHED", 1, start + gap)

    for k in range(sessions):
        await asyncio.sleep(max(0.0, started + k * interval - time.monotonic()))
        task = asyncio.create_task(session(k))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    abandoned = 0
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=gap + 2 * backlog + 60)
        abandoned = waiting
        for task in pending:
            task.cancel()
    result = client.result(time.monotonic() - started, behind * 1000)
    result.shed, result.abandoned = shed, abandoned
    return result


async def run(args: argparse.Namespace) -> Result:
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        how = shape(args.token, args.ocpi)
        client = Client(args.url, how.authorization, http, how.method)
        if args.mode == "flood":
            return await flood(client, how, args.connections, args.duration, args.count, args.tag)
        return await paced(client, args.rate, args.duration, args.gap, args.backlog, args.tag)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("mode", choices=["flood", "paced"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--count", type=int, default=MAX_REQUESTS)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--gap", type=float, default=0.5)
    parser.add_argument("--tag", default=uuid.uuid4().hex[:8], help="session ids start with it")
    parser.add_argument("--backlog", type=float, default=2.0, help="paced: seconds of load")
    ocpi = "flood: OCPI Session PUTs for this party (--url ending in /sessions/CC/PID/)"
    parser.add_argument("--ocpi", metavar="CC/PID", help=ocpi)
    args = parser.parse_args()
    started = time.process_time()
    result = uvloop.run(run(args))
    result.cpu_seconds = time.process_time() - started
    print(msgspec.json.encode(result).decode(), flush=True)


if __name__ == "__main__":
    main()
