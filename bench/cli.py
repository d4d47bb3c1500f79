"""python -m bench [--quick] [--only STAGES] [--soak SECONDS] [--out DIR] [--set NAME=VALUE]

Runs chargehook's processes on a vhost and a database of the bench's own (dropped at the end),
prints one table of figures, targets and ledgers, and writes the results as JSON and a PNG plot.
A figure that misses its target is shown as missed; only a stage that breaks fails the run.
"""

import argparse
import asyncio
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import report, wrk
from bench.embedded import embedded_stage
from bench.floors import MODES as FLOORS
from bench.floors import floor_stage
from bench.lab import open_lab
from bench.pipeline import pipeline_stage, start_pipeline, stop_pipeline
from bench.stages import Bench, Plan, drain_stage, http_stage

STAGES = ("bare", "ingest", "ocpi", "persist", "billing", "notify", "pipeline", "soak", "embedded")
RESULTS = Path(__file__).parent / "results"
HIGH = (("p99", 1000.0),)  # event -> delivery, ms
LOW = (("p50", 50.0), ("p99", 250.0))


def make_plan(args: argparse.Namespace, work: Path) -> Plan:
    quick = args.quick
    return Plan(
        quick=quick,
        http_seconds=args.http_seconds or (2.0 if quick else 10.0),
        warmup_seconds=0.0 if quick else 2.0,
        connections=args.connections,
        persist_events=300 if quick else 20_000,
        billing_events=300 if quick else 10_000,
        notify_events=12 if quick else 3_000,
        # the 1000/s run (p99 < 1 s) and its 500/s run (p50 < 50 ms, p99 < 250 ms)
        pipelines=[(100.0, 2.0, HIGH), (50.0, 2.0, LOW)]
        if quick
        else [(1000.0, 60.0, HIGH), (500.0, 60.0, LOW)],
        gap=0.2 if quick else 0.5,
        drain_timeout=args.drain_timeout or (30.0 if quick else 120.0),
        soak_seconds=args.soak,
        embedded_events=20 if quick else 500,
        work=work,
        use_wrk=args.load_client != "python",
    )


def selected(args: argparse.Namespace) -> list[str]:
    chosen = set(args.only.split(",")) if args.only else set(STAGES) - {"soak"}
    unknown = chosen - set(STAGES)
    if unknown:
        raise SystemExit(
            f"unknown stage(s) {', '.join(sorted(unknown))}; known: {', '.join(STAGES)}"
        )
    if chosen & {"ingest", "ocpi"}:
        chosen.add("bare")  # their targets are ratios to the bare handler of the same run
    if args.soak:
        chosen.add("soak")
    elif "soak" in chosen:
        raise SystemExit("the soak needs its length: --soak SECONDS (e.g. --soak 600)")
    return [stage for stage in STAGES if stage in chosen]


def runner(bench: Bench) -> dict[str, Callable[[], Awaitable[None]]]:
    plan = bench.plan

    async def pipelines() -> None:
        for rate, seconds, targets in plan.pipelines:
            pipeline = await start_pipeline(bench)  # fresh: nothing left in hand from the last
            try:
                await pipeline_stage(bench, pipeline, rate, seconds, targets)
            finally:
                await stop_pipeline(bench, pipeline)

    async def soak() -> None:
        pipeline = await start_pipeline(bench)  # fresh processes: memory from their start
        try:
            await pipeline_stage(bench, pipeline, 500.0, plan.soak_seconds, LOW, soak=True)
        finally:
            await stop_pipeline(bench, pipeline)

    async def drains(kind: str, events: int, counts: tuple[int, ...]) -> None:
        if kind in FLOORS:
            await floor_stage(bench, kind, events)
        for processes_ in counts:
            await drain_stage(bench, kind, processes_, events)

    return {
        "bare": lambda: http_stage(bench, "bare"),
        "ingest": lambda: http_stage(bench, "ingest"),
        "ocpi": lambda: http_stage(bench, "ocpi"),
        "persist": lambda: drains("persist", plan.persist_events, (1,)),
        "billing": lambda: drains("billing", plan.billing_events, (1, 2)),
        "notify": lambda: drains("notify", plan.notify_events, (1, 2)),
        "pipeline": pipelines,
        "soak": soak,
        "embedded": lambda: embedded_stage(bench),
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH is fine here
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


async def bench_main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    stages = selected(args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out)
    plan = make_plan(args, out / f"logs-{stamp}")
    if args.load_client == "wrk" and wrk.wrk_path() is None:
        raise SystemExit("--load-client wrk: wrk is not installed (apt-get install wrk)")
    load_client = "python asyncio client"
    if plan.use_wrk and wrk.wrk_path():
        load_client = "wrk"
    elif plan.use_wrk:
        load_client += " (wrk not installed)"
    options = {"mode": "quick" if args.quick else "full", "stages": ",".join(stages)}
    options |= {"chargehook commit": git_commit(), "settings": " ".join(args.set) or "defaults"}
    run = report.new_run(options, load_client)
    print(f"chargehook bench ({options['mode']}): {', '.join(stages)}; load: {load_client}")
    overrides = dict(item.split("=", 1) for item in args.set)
    try:
        async with open_lab(args.amqp_root, args.database_root, plan.work, overrides) as lab:
            bench = Bench(lab, plan, run)
            run_stage = runner(bench)
            for stage in stages:
                print(f"- {stage}", flush=True)
                began = time.monotonic()
                try:
                    await run_stage[stage]()
                except Exception as exc:  # noqa: BLE001 - one broken stage must not hide the rest
                    run.failures.append(f"{stage}: {exc!r}")
                    print(f"  {stage} FAILED: {exc!r}", flush=True)
                    await lab.purge()
                run.seconds[stage] = round(time.monotonic() - began, 1)
    finally:
        json_path, png_path = out / f"bench-{stamp}.json", out / f"bench-{stamp}.png"
        report.write_json(run, json_path)
        report.plot(run, png_path)
        print()
        print(f"{run.machine['cores']} cores, {run.started_at}, load: {load_client}")
        print(report.table(run))
        for failure in run.failures:
            print(f"FAILED {failure}")
        print(f"\nresults: {json_path}\nplot: {png_path}\nlogs: {plan.work}")
    return 1 if run.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, a few seconds each")
    parser.add_argument("--only", help=f"comma-separated stages out of {','.join(STAGES)}")
    soak = "add the memory soak, 500 events/s for this long (e.g. 600)"
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help=soak)
    parser.add_argument("--out", default=str(RESULTS), help="folder for JSON, PNG and logs")
    setting = "a chargehook setting for every process, e.g. delivery_per_subscription=64"
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help=setting)
    clients = ["auto", "wrk", "python"]
    client = "HTTP load of bare, ingest and ocpi; auto: wrk where installed"
    parser.add_argument("--load-client", choices=clients, default="auto", help=client)
    parser.add_argument("--connections", type=int, default=64, help="load connections (64)")
    parser.add_argument("--http-seconds", type=float, help="length of each HTTP load stage")
    parser.add_argument("--drain-timeout", type=float, help="bound on waiting for a drain")
    parser.add_argument("--amqp-root", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--database-root", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if any("=" not in item for item in args.set):
        raise SystemExit("--set takes NAME=VALUE, e.g. delivery_per_subscription=64")
    try:
        return asyncio.run(bench_main(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench stopped; every child process was stopped")
        return 130
