"""python -m bench [--quick] [--only STAGES] [--soak SECONDS] [--out DIR] [--set NAME=VALUE]

Runs chargehook's processes on a vhost and a database of the bench's own (dropped at the end),
prints one table of figures, targets and ledgers and one of design counts per event, and
writes the results as JSON and PNG plots. A figure that misses its target is shown as missed;
only a stage that breaks fails the run.
"""

import argparse
import asyncio
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import report, servers, wrk
from bench.curve import curve_stage
from bench.embedded import embedded_stage
from bench.floors import MODES as FLOORS
from bench.floors import floor_stage
from bench.lab import open_lab
from bench.pipeline import soak_stage
from bench.stages import Bench, Plan, drain_stage, http_stage

STAGES = ("bare", "ingest", "ocpi", "persist", "billing", "notify", "curve", "soak", "embedded")
RESULTS = Path(__file__).parent / "results"
SOAK_SHARE = 0.6  # of the knee, when --soak-rate does not say
CURVE_TOP = 10_000.0  # offered events/s: a bound on the sweep, far past any 2-core machine


def curve_rates(quick: bool) -> list[float]:
    """50, 100, 200, then a step of 100; quick: 50 and 100."""
    if quick:
        return [50.0, 100.0]
    return [50.0, 100.0, *(float(rate) for rate in range(200, int(CURVE_TOP) + 1, 100))]


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
        curve_rates=curve_rates(quick),
        curve_seconds=args.curve_seconds or (2.0 if quick else 20.0),
        gap=0.2 if quick else 0.5,
        drain_timeout=args.drain_timeout or (30.0 if quick else 120.0),
        soak_seconds=args.soak,
        soak_rate=args.soak_rate,
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
    if "soak" in chosen and "curve" not in chosen and not args.soak_rate:
        raise SystemExit(
            "the soak runs at 60 % of the curve's knee: run the curve or give --soak-rate"
        )
    return [stage for stage in STAGES if stage in chosen]


def runner(bench: Bench) -> dict[str, Callable[[], Awaitable[None]]]:
    plan = bench.plan

    async def soak() -> None:
        rate = plan.soak_rate or (bench.knee and SOAK_SHARE * bench.knee)
        if not rate:
            raise RuntimeError("no knee: no point of the curve passed; give --soak-rate")
        await soak_stage(bench, rate, plan.soak_seconds)

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
        "curve": lambda: curve_stage(bench),
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
            found = [servers.rabbitmq(args.amqp_root), await servers.postgresql(args.database_root)]
            bench.servers = [server for server in found if server is not None]
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
        plots = [png_path]
        if run.curve:
            plots.append(out / f"bench-{stamp}-curve.png")
            report.plot_curve(run, plots[-1])
        print()
        print(f"{run.machine['cores']} cores, {run.started_at}, load: {load_client}")
        print(report.table(run))
        if run.counts:
            print("\nDesign counts, per event (delivery HTTP requests: per delivered event)\n")
            print(report.counts_table(run))
        for failure in run.failures:
            print(f"FAILED {failure}")
        print(f"\nresults: {json_path}\nplots: {', '.join(map(str, plots))}\nlogs: {plan.work}")
    return 1 if run.failures else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small counts, a few seconds each")
    parser.add_argument("--only", help=f"comma-separated stages out of {','.join(STAGES)}")
    soak = "add the memory soak for this long (e.g. 600), at 60 %% of the curve's knee"
    parser.add_argument("--soak", type=float, default=0.0, metavar="SECONDS", help=soak)
    soak_rate = "the soak's events/s instead (needed when the curve does not run)"
    parser.add_argument("--soak-rate", type=float, metavar="EVENTS", help=soak_rate)
    curve = "load at each rate of the curve (20; quick: 2)"
    parser.add_argument("--curve-seconds", type=float, metavar="SECONDS", help=curve)
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
