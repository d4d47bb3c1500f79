"""python -m bench.export [--bills N] [--quick] [--out DIR]: exporting the bills ledger.

Fills a database of the bench's own (dropped at the end) with N bills (1 000 000 by default,
20 000 with --quick) in one set-based INSERT ... SELECT over generate_series: in each block of
twelve sessions, seven kWh sessions with two estimates and a final, one corrected (its final,
the credit of it and the final that replaces it), an OCPI session (an estimate and its CDR's
final), a zero, an incomplete and a final the provider's figures disagree with: 32 bills, a
bill every 2.5 s from 2026-01-01 on. Then it runs the real `chargehook bills export` as a child
process, its output to /dev/null, over an empty period (the command's fixed cost: interpreter,
imports, connecting, the migrations check), over the first N/10 bills and over all N, as CSV
and as JSON lines. Each export's figure is its rows per second over the command's wall time,
beside the child's own peak RSS (VmHWM, read from /proc while it runs); the memory rows hold
the peak RSS at N to that at N/10, since memory must not grow with the period. Each export is
then run again into a pipe and checked: as many lines as bills in the period, the ids in
order and each once, and the sum of `amount` equal to the database's, exactly.
"""

import argparse
import asyncio
import csv
import io
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO

import asyncpg
import msgspec
import uvloop

from bench import report
from bench.processes import chargehook_args, command, peak_rss_mb
from chargehook.billing.export_format import FORMATS, ExportFormat, iso
from lab.services import chargehook_env, throwaway_database

RESULTS = Path(__file__).parent / "results"
START = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=2.5)
MEMORY_TARGET_MB = 5.0  # the peak RSS at N may exceed that at N/10 by this much


@dataclass(frozen=True)
class Bill:
    """One bill of a block: its session's slot, kind, and the bill of the block it refers to
    (and whose money a credit negates)."""

    slot: int
    kind: str
    refers: int | None = None
    ocpi: bool = False
    cdr: bool = False
    mismatch: bool = False

    @property
    def status(self) -> str:
        return {"estimate": "IN_PROGRESS", "zero": "NOT_PLUGGED"}.get(self.kind, "FINISHED")


def block() -> list[Bill]:
    bills = []
    for slot in range(7):
        bills += [Bill(slot, "estimate"), Bill(slot, "estimate"), Bill(slot, "final")]
    corrected = len(bills) + 2
    bills += [Bill(7, "estimate"), Bill(7, "estimate"), Bill(7, "final")]
    bills += [Bill(7, "credit", refers=corrected), Bill(7, "final", refers=corrected)]
    bills += [Bill(8, "estimate", ocpi=True), Bill(8, "final", ocpi=True, cdr=True)]
    bills += [Bill(9, "zero"), Bill(10, "incomplete")]
    return [*bills, Bill(11, "estimate"), Bill(11, "final", mismatch=True)]


BLOCK = block()


def values(bills: Sequence[Bill]) -> str:
    """The block as a VALUES list: (pos, slot, kind, status, refers, seed, sign, ocpi, cdr,
    mismatch); a credit's money is the negated money (seed) of the final it credits."""
    rows = []
    for pos, bill in enumerate(bills):
        refers = "NULL" if bill.refers is None else str(bill.refers)
        seed = bill.refers if bill.kind == "credit" and bill.refers is not None else pos
        sign = {"credit": "-1", "zero": "0", "incomplete": "NULL"}.get(bill.kind, "1")
        rows.append(
            f"({pos}, {bill.slot}, '{bill.kind}', '{bill.status}', {refers}::bigint, {seed},"
            f" {sign}::int, {bill.ocpi}, {bill.cdr}, {bill.mismatch})"
        )
    return ",\n    ".join(rows)


# Explicit ids, so a credit and a replacing final name their final by arithmetic: the block's
# first id plus the final's position. Money: B from a seed, C = q(B x 0.10), T = q((B+C) x 0.21).
FILL = f"""
INSERT INTO bills (id, provider, session_id, event_id, cdr_id, status, kind, refers_to, reason,
    currency, price_unit, quantity, base, access_fee, subtotal, commission, tax, amount,
    commission_rate, tax_rate, provider_amount, cpo_excl_vat, cpo_incl_vat, mismatch,
    updated_at, received_at, billed_at)
SELECT g + 1,
    CASE WHEN p.ocpi THEN 'acme-cpo'
         ELSE (ARRAY['repsol', 'emt', 'iberdrola'])[g / {len(BLOCK)} % 3 + 1] END,
    CASE WHEN p.ocpi THEN 'ES-ABC-' || g / {len(BLOCK)}
         ELSE 's-' || g / {len(BLOCK)} || '-' || p.slot END,
    CASE WHEN p.cdr THEN NULL WHEN p.kind = 'credit' THEN 'evt-' || g + 1 ELSE 'evt-' || g END,
    CASE WHEN p.cdr THEN 'ES-ABC-cdr-' || g / {len(BLOCK)} END,
    p.status, p.kind, g - p.pos + p.refers + 1,
    CASE WHEN p.kind = 'incomplete' THEN 'plug_price missing' END,
    'EUR', CASE WHEN p.ocpi THEN 'session' ELSE 'kwh' END,
    abs(p.sign) * m.quantity, p.sign * m.base, p.sign * 0.00, p.sign * m.base,
    p.sign * c.commission, p.sign * t.tax, p.sign * (m.base + c.commission + t.tax),
    0.10, 0.21,
    CASE WHEN p.mismatch THEN m.base + c.commission + t.tax + 0.05 END,
    CASE WHEN p.ocpi THEN m.base END, CASE WHEN p.ocpi THEN round(m.base * 1.21, 2) END,
    p.mismatch,
    $2::timestamptz + g * $3::interval - interval '2 seconds',
    $2::timestamptz + g * $3::interval - interval '1 second',
    $2::timestamptz + g * $3::interval
FROM generate_series(0, $1::bigint - 1) AS g
JOIN (VALUES
    {values(BLOCK)}
) AS p (pos, slot, kind, status, refers, seed, sign, ocpi, cdr, mismatch)
    ON p.pos = g % {len(BLOCK)}
CROSS JOIN LATERAL (
    SELECT round(((g - p.pos + p.seed) * 7919 % 5000 + 1)::numeric / 100, 2) AS base,
           round(((g - p.pos + p.seed) * 104729 % 60000 + 1)::numeric / 1000, 3) AS quantity
) AS m
CROSS JOIN LATERAL (SELECT round(m.base * 0.10, 2) AS commission) AS c
CROSS JOIN LATERAL (SELECT round((m.base + c.commission) * 0.21, 2) AS tax) AS t
"""
IN_PERIOD = "FROM bills WHERE billed_at >= $1 AND billed_at < $2"


async def fill(conn: asyncpg.Connection, bills: int) -> None:
    """`bills` bills in one statement, the id sequence past them, the statistics fresh."""
    async with conn.transaction():  # the deferred reference check runs at the commit
        await conn.execute(FILL, bills, START, STEP)
    await conn.execute("SELECT setval(pg_get_serial_sequence('bills', 'id'), $1)", bills)
    await conn.execute("ANALYZE bills")


@dataclass
class Counted:
    """What an export wrote, counted while it was read, in constant memory: the bench's ids
    grow with billed_at, so the export's order makes each id greater than the one before."""

    lines: int = 0
    disordered: int = 0  # ids not greater than the one before: repeated, or out of order
    last_id: int = 0
    amount: Decimal = Decimal(0)

    def add(self, bill_id: int, amount: Decimal | None) -> None:
        self.lines += 1
        self.disordered += bill_id <= self.last_id
        self.last_id = bill_id
        self.amount += amount or 0


class Amount(msgspec.Struct):
    id: int
    amount: Decimal | None


def count_csv(out: IO[bytes], counted: Counted) -> None:
    reader = csv.reader(io.TextIOWrapper(out, encoding="utf-8", newline=""))
    header = next(reader)
    bill_id, amount = header.index("id"), header.index("amount")
    for row in reader:
        counted.add(int(row[bill_id]), Decimal(row[amount]) if row[amount] else None)


def count_jsonl(out: IO[bytes], counted: Counted) -> None:
    decode = msgspec.json.Decoder(Amount).decode
    for line in out:
        bill = decode(line)
        counted.add(bill.id, bill.amount)


def export_args(since: datetime, until: datetime, fmt: ExportFormat) -> list[str]:
    period = ["--since", iso(since), "--until", iso(until)]
    return chargehook_args("bills", "export", *period, "--format", fmt)


def timed(args: list[str], env: dict[str, str], log: Path) -> tuple[float, float]:
    """The command run to its end, its stdout to /dev/null: wall seconds, and its peak RSS in
    MB, read from /proc every 10 ms once it runs the command (bench.processes.peak_rss_mb)."""
    with Path(os.devnull).open("wb") as sink, log.open("ab") as errors:
        began = time.perf_counter()
        child = subprocess.Popen(args, stdout=sink, stderr=errors, env=env)  # noqa: S603
        peak, status = watched(child.pid)
        elapsed = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{' '.join(args[2:5])} exited {child.returncode}: see {log}")
    return elapsed, peak


def watched(pid: int) -> tuple[float, int]:
    """Wait for a child, reading its peak RSS meanwhile: (MB, wait status). Only once it runs
    the export (its command line says so): before its exec /proc shows the bench's memory."""
    peak = 0.0
    while True:
        done, status, _ = os.wait4(pid, os.WNOHANG)
        if done:
            return peak, status
        with suppress(OSError):
            if b"\0export\0" in Path(f"/proc/{pid}/cmdline").read_bytes():
                peak = max(peak, peak_rss_mb(pid) or 0.0)
        time.sleep(0.01)


def counted(args: list[str], env: dict[str, str], log: Path, fmt: ExportFormat) -> Counted:
    """The command run again, its stdout read and counted as it comes."""
    found = Counted()
    with log.open("ab") as errors:
        child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errors, env=env)  # noqa: S603
        assert child.stdout is not None
        with child.stdout as out:
            (count_csv if fmt == "csv" else count_jsonl)(out, found)
        if child.wait() != 0:
            raise RuntimeError(f"{' '.join(args[2:5])} exited {child.returncode}: see {log}")
    return found


@dataclass
class Export:
    """One export measured and checked, against the database's own count and sum."""

    bills: int
    fmt: ExportFormat
    seconds: float
    rss_mb: float
    found: Counted
    stored: int
    stored_amount: Decimal
    start_up: float  # the wall seconds of an export of nothing

    def row(self) -> report.Row:
        ledger = {
            "bills": self.stored,
            "exported": self.found.lines,
            "ids repeated or out of order": self.found.disordered,
            "amount cents in bills": int(self.stored_amount * 100),
            "amount cents exported": int(self.found.amount * 100),
        }
        balanced = (
            self.found.lines == self.stored == self.bills
            and self.found.disordered == 0
            and self.found.amount == self.stored_amount
        )
        note = f"{self.seconds:.1f} s wall, "
        if (past := self.seconds - self.start_up) >= 1.0:  # shorter: start-up noise
            note += f"{self.bills / past:,.0f} rows/s past start-up, "
        note += f"peak RSS {self.rss_mb:.1f} MB"
        return report.Row(stage=f"export {self.bills:,} bills, {self.fmt}", figure=self.bills /
                          self.seconds, unit="rows/s", ledger=ledger, balanced=balanced,
                          note=note)  # fmt: skip


@dataclass
class Bench:
    conn: asyncpg.Connection
    env: dict[str, str]
    log: Path
    run: report.Run
    start_up_seconds: float = 0.0

    async def export(self, bills: int, fmt: ExportFormat) -> Export:
        until = START + bills * STEP
        args = export_args(START, until, fmt)
        seconds, rss = await asyncio.to_thread(timed, args, self.env, self.log)
        found = await asyncio.to_thread(counted, args, self.env, self.log, fmt)
        stored = await self.conn.fetchrow(f"SELECT count(*), sum(amount) {IN_PERIOD}", START, until)
        assert stored is not None
        total = stored[1] or Decimal(0)
        done = Export(bills, fmt, seconds, rss, found, stored[0], total, self.start_up_seconds)
        self.run.rows.append(done.row())
        print(f"  {done.row().stage}: {bills / seconds:,.0f} rows/s, {rss:.1f} MB", flush=True)
        return done

    async def start_up(self) -> None:
        """An export of an empty period: what every export costs before its first bill."""
        args = export_args(START - timedelta(days=1), START, "csv")
        seconds, rss = await asyncio.to_thread(timed, args, self.env, self.log)
        self.start_up_seconds = seconds
        note = f"peak RSS {rss:.1f} MB; interpreter, imports, connecting, the migrations check"
        row = report.Row(stage="export of an empty period", figure=seconds, unit="s", note=note)
        self.run.rows.append(row)

    def memory(self, small: Export, large: Export) -> None:
        growth = large.rss_mb - small.rss_mb
        self.run.rows.append(
            report.Row(
                stage=f"export peak RSS, {large.fmt}: {large.bills:,} vs {small.bills:,} bills",
                figure=growth,
                unit="MB more",
                target=f"<= {MEMORY_TARGET_MB:g} MB more",
                met=growth <= MEMORY_TARGET_MB,
                note=f"{small.rss_mb:.1f} MB, then {large.rss_mb:.1f} MB",
            )
        )


async def filled(conn: asyncpg.Connection, bills: int, run: report.Run) -> None:
    began = time.perf_counter()
    await fill(conn, bills)
    seconds = time.perf_counter() - began
    stage = f"fill {bills:,} bills (one INSERT ... SELECT, then ANALYZE)"
    run.rows.append(report.Row(stage=stage, figure=bills / seconds, unit="rows/s",
                               note=f"{seconds:.1f} s"))  # fmt: skip
    print(f"  {stage}: {seconds:.1f} s", flush=True)


async def bench_export(bills: int, database_root: str, out: Path) -> int:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    options = {"mode": "export", "bills": str(bills)}
    run = report.new_run(options, "-")
    work = out / f"logs-export-{stamp}"
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"chargehook bench export: {bills:,} bills, exports of {bills // 10:,} and all", flush=True
    )
    try:
        async with throwaway_database(database_root, "chargehook_bench") as url:
            env = chargehook_env(database_url=url, log_format="json")
            await command(chargehook_args("migrate"), env)
            conn = await asyncpg.connect(url)
            try:
                await filled(conn, bills, run)
                bench = Bench(conn, env, work / "exports.log", run)
                await bench.start_up()
                for fmt in FORMATS:
                    small = await bench.export(bills // 10, fmt)
                    bench.memory(small, await bench.export(bills, fmt))
            finally:
                await conn.close()
    except Exception as exc:  # noqa: BLE001 - reported with the figures measured so far
        run.failures.append(repr(exc))
    json_path = out / f"bench-export-{stamp}.json"
    report.write_json(run, json_path)
    print(f"\n{run.machine['cores']} cores, {run.started_at}, Python {run.machine['python']}")
    print(report.table(run))
    for failure in run.failures:
        print(f"FAILED {failure}")
    print(f"\nresults: {json_path}\nlogs: {work}")
    balanced = all(row.balanced is not False for row in run.rows)
    return 1 if run.failures or not balanced else 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--bills", type=int, help="bills in the ledger (1000000; --quick 20000)")
    parser.add_argument("--quick", action="store_true", help="20 000 bills, for the tests")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the JSON and the logs")
    parser.add_argument("--database-root", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    bills = args.bills or (20_000 if args.quick else 1_000_000)
    if bills < 10:
        raise SystemExit("--bills: at least 10 (the smaller export is a tenth of them)")
    return uvloop.run(bench_export(bills, args.database_root, Path(args.out)))


if __name__ == "__main__":
    sys.exit(main())
