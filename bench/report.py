"""Results: one row per figure, the one table (Markdown, so it pastes into the README), the JSON
file and the plot of latency, queue depths and memory over time."""

import math
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import msgspec

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


class Run(msgspec.Struct, kw_only=True):
    started_at: str
    machine: dict[str, str]
    options: dict[str, str]
    rows: list[Row] = msgspec.field(default_factory=list)
    series: list[Series] = msgspec.field(default_factory=list)
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
    fig.suptitle(f"chargehook bench, {run.machine['cores']} cores, {run.started_at[:10]}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
