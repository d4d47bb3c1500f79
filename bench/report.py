"""Results: one row per figure, the one table (Markdown, so it pastes into the README), the
design counts per event, the JSON file, the plot of latency, queue depths and memory over time
and the plot of the load sweep (the curve)."""

import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Point = tuple[float, float]


class Row(msgspec.Struct, kw_only=True):
    stage: str
    figure: float | None
    unit: str
    target: str = ""
    met: bool | None = None  # None: no target for this figure
    vs_bare: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    ledger: dict[str, int] = msgspec.field(default_factory=dict)
    balanced: bool | None = None  # None: no ledger for this figure
    settled: bool = True  # False: the drain bound passed with events still in flight
    note: str = ""


class Series(msgspec.Struct, kw_only=True):
    """What a stage saw over time, seconds from the start of its load."""

    name: str
    latency_ms: list[Point] = msgspec.field(default_factory=list)  # (sent, event -> delivery)
    depths: dict[str, list[Point]] = msgspec.field(default_factory=dict)
    rss_mb: dict[str, list[Point]] = msgspec.field(default_factory=dict)


class CurvePoint(msgspec.Struct, kw_only=True):
    """One offered rate of the load sweep, on fresh processes."""

    rate: float  # offered events/s
    seconds: float  # of load
    accepted: int
    delivered: int
    p50_ms: float | None  # event -> delivery; an event not delivered counts as slower than any
    p99_ms: float | None
    flat: bool  # every queue held at most a second of load when the load ended
    passed: bool  # p99 < 1 s and flat
    settled: bool
    window_s: float  # from the load's start until all was delivered (or the drain bound)
    cpu_s: dict[str, float | None]  # CPU seconds over the window, by process; None: not here
    cpu_ms_per_event: float | None  # chargehook + RabbitMQ + PostgreSQL, per delivered event


class Counts(msgspec.Struct, kw_only=True):
    """What one event cost a stage (per delivered event for delivery requests)."""

    stage: str
    events: int
    rate: float | None = None  # the curve's point, offered events/s
    delivered: int | None = None
    sql_statements: float | None = None
    top_statements: list[tuple[float, str]] = msgspec.field(default_factory=list)
    rows_written: float | None = None  # pg_stat_database: inserted + updated + deleted
    commits: float | None = None
    published: float | None = None
    published_by_exchange: dict[str, float] = msgspec.field(default_factory=dict)
    consumed: float | None = None
    delivery_requests: float | None = None
    ingest_requests: float | None = None
    sql_note: str = ""  # why the SQL counts are missing


class Run(msgspec.Struct, kw_only=True):
    started_at: str
    machine: dict[str, str]
    options: dict[str, str]
    rows: list[Row] = msgspec.field(default_factory=list)
    series: list[Series] = msgspec.field(default_factory=list)
    curve: list[CurvePoint] = msgspec.field(default_factory=list)
    counts: list[Counts] = msgspec.field(default_factory=list)
    failures: list[str] = msgspec.field(default_factory=list)
    seconds: dict[str, float] = msgspec.field(default_factory=dict)  # each stage's wall time


def new_run(options: dict[str, str], load_client: str) -> Run:
    machine = {
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "load client": load_client,
    }
    return Run(
        started_at=datetime.now(UTC).isoformat(timespec="seconds"), machine=machine, options=options
    )


def percentile(values: list[float], q: float) -> float | None:
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return None
    return finite[min(len(finite) - 1, max(0, math.ceil(q / 100 * len(finite)) - 1))]


def thin(points: list[Point], at_most: int = 4000) -> list[Point]:
    step = max(1, math.ceil(len(points) / at_most))
    return points[::step]


def number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "not delivered in time"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if value else "0"
    return f"{text} {unit}".strip()


def millis(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "not delivered in time"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


def ledger_text(row: Row) -> str:
    if not row.ledger:
        return "-"
    text = ", ".join(f"{name} {count:,}" for name, count in row.ledger.items())
    if row.balanced is None:
        return text
    if not row.balanced:
        return text + ": **UNBALANCED**"
    return text + (": balanced" if row.settled else ": not settled within the drain bound")


def result_text(row: Row) -> str:
    return "-" if row.met is None else "met" if row.met else "**missed**"


def table(run: Run) -> str:
    head = ["stage", "figure", "target", "result", "vs bare", "p50", "p99", "ledger", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in run.rows:
        cells = [
            row.stage,
            number(row.figure, row.unit),
            row.target or "-",
            result_text(row),
            "-" if row.vs_bare is None else f"{row.vs_bare:.2f}",
            millis(row.p50_ms),
            millis(row.p99_ms),
            ledger_text(row),
            row.note or "",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


COUNT_COLUMNS = [
    "stage",
    "events",
    "SQL statements/event",
    "rows written/event",
    "commits/event",
    "broker published/event",
    "consumed/event",
    "delivery HTTP requests/event",
    "ingest requests/event",
    "top statements (calls/event)",
]


def shown_counts(run: Run, near: float = 300.0) -> list[Counts]:
    """Every drain's counts, and the curve's at the point nearest `near` events/s."""
    drains = [counts for counts in run.counts if counts.rate is None]
    points = [counts for counts in run.counts if counts.rate is not None]
    nearest = min(points, key=lambda c: (abs((c.rate or 0) - near), c.rate), default=None)
    return drains + ([nearest] if nearest else [])


def counts_table(run: Run) -> str:
    lines = ["| " + " | ".join(COUNT_COLUMNS) + " |", "|" + " --- |" * len(COUNT_COLUMNS)]
    for counts in shown_counts(run):
        top = "; ".join(f"{n:.3g} {text}" for n, text in counts.top_statements[:3])
        cells = [
            counts.stage,
            f"{counts.events:,}",
            counts.sql_note or number(counts.sql_statements),
            number(counts.rows_written),
            number(counts.commits),
            number(counts.published),
            number(counts.consumed),
            number(counts.delivery_requests),
            number(counts.ingest_requests),
            top.replace("|", "\\|") or "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(run: Run, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(run), indent=1))


def plot(run: Run, path: Path) -> None:
    """Latency and queue depths over time per pipeline stage; memory too when a soak ran."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with_rss = any(s.rss_mb for s in run.series)
    panels = 3 if with_rss else 2
    fig, axes = plt.subplots(panels, 1, figsize=(10, 3.2 * panels), dpi=80)
    latency, depths = axes[0], axes[1]
    queues = sorted({queue for series in run.series for queue in series.depths})
    colours = {queue: f"C{n % 10}" for n, queue in enumerate(queues)}
    styles = ["-", "--", ":", "-."]
    for n, series in enumerate(run.series):
        if series.latency_ms:
            xs, ys = zip(*series.latency_ms, strict=True)
            latency.scatter(xs, ys, s=2, alpha=0.5, label=series.name)
        for queue, points in series.depths.items():
            if points and max(p[1] for p in points) > 0:
                xs, ys = zip(*points, strict=True)
                depths.plot(
                    xs,
                    ys,
                    color=colours[queue],
                    linestyle=styles[n % len(styles)],
                    label=f"{series.name}: {queue}",
                )
    latency.set(title="event -> signed delivery latency", xlabel="s since load start", ylabel="ms")
    if any(s.latency_ms for s in run.series):
        latency.set_yscale("log")
    depths.set(
        title="queue depths (ready messages)", xlabel="s since load start", ylabel="messages"
    )
    if with_rss:
        for series in run.series:
            for name, points in series.rss_mb.items():
                xs, ys = zip(*points, strict=True)
                axes[2].plot(xs, ys, label=f"{series.name}: {name}")
        axes[2].set(title="resident memory", xlabel="s since load start", ylabel="MB")
    for axis in axes:
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="x-small", loc="upper left")
        axis.grid(alpha=0.3)
    save(fig, f"chargehook bench, {run.machine['cores']} cores, {run.started_at[:10]}", path)


CURVE_PROCESSES = ("ingest", "persist", "billing", "notify", "RabbitMQ", "PostgreSQL")


def plot_curve(run: Run, path: Path) -> None:
    """The load sweep: latency p50 and p99 against offered load (log scale; a point whose
    events were not all delivered in time is left out), and CPU per delivered event against
    offered load, per process and in total."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = sorted(run.curve, key=lambda point: point.rate)
    rates = [point.rate for point in points]
    fig, (latency, cpu) = plt.subplots(2, 1, figsize=(10, 7.5), dpi=80)
    for name in ("p50_ms", "p99_ms"):
        shown = [
            (point.rate, value)
            for point in points
            if (value := getattr(point, name)) is not None and math.isfinite(value)
        ]
        if shown:
            latency.plot(*zip(*shown, strict=True), marker="o", label=name.removesuffix("_ms"))
    failed = [point.rate for point in points if not point.passed]
    for rate in failed:
        latency.axvline(rate, color="red", alpha=0.3)
    latency.axhline(1000, color="grey", linestyle=":", label="1 s")
    latency.set(title="event -> signed delivery (red: p99 >= 1 s or a queue not flat)",
                xlabel="offered events/s", ylabel="ms", yscale="log")  # fmt: skip
    for name in CURVE_PROCESSES:
        shown = [
            (point.rate, seconds / point.delivered * 1000)
            for point in points
            if (seconds := point.cpu_s.get(name)) is not None and point.delivered
        ]
        if shown:
            cpu.plot(*zip(*shown, strict=True), marker=".", label=name)
    total = [(p.rate, p.cpu_ms_per_event) for p in points if p.cpu_ms_per_event is not None]
    if total:
        cpu.plot(*zip(*total, strict=True), marker="o", linewidth=2.5, color="black", label="total")
    cpu.set(title="CPU per delivered event (chargehook + RabbitMQ + PostgreSQL)",
            xlabel="offered events/s", ylabel="ms of CPU")  # fmt: skip
    for axis in (latency, cpu):
        if rates:
            axis.set_xticks(rates)
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize="x-small", loc="best")
        axis.grid(alpha=0.3)
    save(fig, f"chargehook load sweep, {run.machine['cores']} cores, {run.started_at[:10]}", path)


def save(fig: "Figure", title: str, path: Path) -> None:
    """A figure titled, written to `path` and closed."""
    import matplotlib.pyplot as plt

    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
