"""What one event costs the design, counted per stage: SQL statements (pg_stat_statements),
rows written and commits (pg_stat_database), broker messages published and consumed (the
chargehook processes' /metrics) and HTTP requests.

A stage's SQL is what ran between two snapshots, the one before taken once the stage's
processes are up or about to start, the one after once they stopped. The bench's own probes
run as a role of their own (bench.lab.probe_role), so their statements are left out by user;
pg_stat_database cannot tell users apart, so the probes' commits (one per statement, the
probe pool sending no reset) are taken off its count.
"""

import asyncio
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import aiohttp
import asyncpg

from bench.lab import Lab
from bench.report import Counts

NOT_PRELOADED = "unavailable: pg_stat_statements not preloaded"
NOT_INSTALLED = "unavailable: pg_stat_statements not installed"
STATEMENTS = """
SELECT s.userid = r.oid AS probe, s.queryid, s.calls, s.query
FROM pg_stat_statements s JOIN pg_roles r ON r.rolname = current_user
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
DATABASE = """
SELECT tup_inserted + tup_updated + tup_deleted AS written, xact_commit AS commits
FROM pg_stat_database WHERE datname = $1
"""
QUIET = 1.2  # seconds pg_stat_database must stay unchanged: backends report about each second
TOP = 10  # statements kept per stage, by calls per event


@dataclass
class Snapshot:
    written: int
    commits: int
    calls: dict[int, int] = field(default_factory=dict)  # chargehook's, by queryid
    texts: dict[int, str] = field(default_factory=dict)
    probe_calls: int | None = None  # None: pg_stat_statements unavailable, `note` says why
    note: str = ""


@dataclass
class Sql:
    """What ran between two snapshots; None where it cannot be told."""

    statements: int | None
    top: list[tuple[int, str]]  # (calls, text), most called first
    written: int
    commits: int | None
    note: str = ""


async def snapshot(lab: Lab) -> Snapshot:
    """pg_stat_database once its counts stopped moving, then pg_stat_statements (whose own
    read is then counted before the next snapshot in both, or in neither)."""
    written, commits = await quiet_database_stats(lab)
    taken = Snapshot(written, commits)
    try:
        rows = await lab.pool.fetch(STATEMENTS)
    except asyncpg.ObjectNotInPrerequisiteStateError:
        taken.note = NOT_PRELOADED
        return taken
    except asyncpg.UndefinedTableError:  # the server has no such extension to make
        taken.note = NOT_INSTALLED
        return taken
    taken.probe_calls = 0
    for row in rows:
        if row["probe"]:
            taken.probe_calls += row["calls"]
        elif row["queryid"] is not None:
            queryid = row["queryid"]
            taken.calls[queryid] = taken.calls.get(queryid, 0) + row["calls"]
            taken.texts[queryid] = row["query"]
    return taken


async def quiet_database_stats(lab: Lab, within: float = 15.0) -> tuple[int, int]:
    """(rows written, commits) of the bench's database once unchanged for QUIET seconds: a
    backend reports its counts when idle, about a second after its last transaction. Read
    through the server's own database, so that reading commits nothing in the bench's."""
    name = lab.database_url.split("?", 1)[0].rsplit("/", 1)[1]
    connection = await asyncpg.connect(lab.database_root)
    try:
        last: tuple[int, int] | None = None
        since = time.monotonic()
        deadline = since + within
        while True:
            row = await connection.fetchrow(DATABASE, name)
            assert row is not None
            now = (int(row["written"]), int(row["commits"]))
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= QUIET or time.monotonic() > deadline:
                return now
            await asyncio.sleep(0.3)
    finally:
        await connection.close()


def since(before: Snapshot, after: Snapshot) -> Sql:
    written = after.written - before.written
    commits = after.commits - before.commits
    if before.probe_calls is None or after.probe_calls is None:
        return Sql(None, [], written, None, before.note or after.note)
    calls = {q: n - before.calls.get(q, 0) for q, n in after.calls.items()}
    top = sorted(((n, after.texts[q]) for q, n in calls.items() if n > 0), reverse=True)
    probes = after.probe_calls - before.probe_calls
    return Sql(sum(n for n, _ in top), top[:TOP], written, commits - probes)


SAMPLE = re.compile(r"^(\w+)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of each sample in a Prometheus text exposition."""
    for line in text.splitlines():
        if (found := SAMPLE.match(line)) is not None:
            yield found[1], dict(LABEL.findall(found[2] or "")), float(found[3])


async def scrape(http: aiohttp.ClientSession, urls: Sequence[str]) -> list[str]:
    """Each process's /metrics; read before the processes stop, their counts going with them."""
    texts = []
    for url in urls:
        async with http.get(url) as answer:
            answer.raise_for_status()
            texts.append(await answer.text())
    return texts


async def scrape_settled(
    http: aiohttp.ClientSession, urls: Sequence[str], within: float = 10.0
) -> list[str]:
    """Each process's /metrics once its broker counts stopped moving: a worker counts a batch
    once it is acked, after its rows (or its deliveries) are there for the stage to see, and
    a queue's depth counts no message in hand."""
    texts = await scrape(http, urls)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        again = await scrape(http, urls)
        if broker_counts(again) == broker_counts(texts):
            return again
        texts = again
    return texts


def broker_counts(texts: Sequence[str]) -> tuple[dict[str, float], float]:
    """(published by exchange, consumed) over the processes: every message a worker finished
    (done, requeued or dead-lettered) was consumed once."""
    published: dict[str, float] = {}
    consumed = 0.0
    for text in texts:
        for name, labels, value in samples(text):
            if name == "chargehook_broker_published_total":
                exchange = labels["exchange"]
                published[exchange] = published.get(exchange, 0.0) + value
            elif name == "chargehook_worker_messages_total":
                consumed += value
    return published, consumed


def shortened(query: str, length: int = 48) -> str:
    text = " ".join(query.split())
    return text if len(text) <= length else text[: length - 1] + "…"


def design_counts(
    stage: str,
    events: int,
    sql: Sql,
    metrics: Sequence[str],
    receiver: dict[str, int] | None = None,
    ingest_requests: int | None = None,
    rate: float | None = None,
) -> Counts:
    """Per event of the stage: its SQL, its broker messages, and, where the receiver took the
    deliveries, the HTTP requests per delivered item."""

    def per_event(count: float | None) -> float | None:
        return None if count is None or not events else count / events

    published, consumed = broker_counts(metrics)
    counts = Counts(stage=stage, events=events, rate=rate, sql_note=sql.note)
    counts.sql_statements = per_event(sql.statements)
    counts.top_statements = [(n / events, shortened(q)) for n, q in sql.top] if events else []
    counts.rows_written, counts.commits = per_event(sql.written), per_event(sql.commits)
    counts.published, counts.consumed = per_event(sum(published.values())), per_event(consumed)
    counts.published_by_exchange = {x: n / events for x, n in published.items()} if events else {}
    counts.ingest_requests = per_event(ingest_requests)
    if receiver is not None:
        counts.delivered = receiver["items"]
        counts.delivery_requests = (
            receiver["requests"] / receiver["items"] if receiver["items"] else None
        )
    return counts
