"""Child processes: started in their own session, told to die with the bench
(PR_SET_PDEATHSIG), stopped with SIGTERM then SIGKILL; their memory and CPU read from /proc."""

import asyncio
import ctypes
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_prctl: Callable[[int, int], int] | None = None
with suppress(OSError, AttributeError):  # resolved in the parent: the child only calls it
    _prctl = ctypes.CDLL(None, use_errno=True).prctl


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGTERM it when the bench goes, however the bench goes."""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process from /proc, in MB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of a process since its exec (VmHWM), in MB; None once it is gone.
    wait4's ru_maxrss is no substitute for a child's own: Linux counts in it the parent's
    resident pages at the fork, kept until the exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _machine_ticks() -> list[int]:
    """/proc/stat's first line: user nice system idle iowait irq softirq steal guest ..."""
    return [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]


def stolen_seconds() -> float | None:
    """Time the host gave this machine's CPUs to others while they had work (steal)."""
    try:
        return _machine_ticks()[7] / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float | None:
    """CPU time a process used so far (user + system); pid 0: the whole machine's busy time
    (user, nice, system, irq, softirq: not idle, iowait or what the host stole; guest time is
    already in user and nice)."""
    try:
        if pid == 0:
            user, nice, system, _, _, irq, softirq = _machine_ticks()[:7]
            return (user + nice + system + irq + softirq) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return None
    stat = _stat(pid)
    return None if stat is None else (stat[UTIME] + stat[STIME]) / CLOCK_TICKS


# /proc/PID/stat's numbers after the command's closing parenthesis, counted from 0 there
PPID, UTIME, STIME, CUTIME, CSTIME = 1, 11, 12, 13, 14


def _stat(pid: int) -> list[int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1:]
        return [0, *(int(field) for field in fields)]  # the state letter kept as a 0
    except (OSError, IndexError, ValueError):
        return None


def family_cpu_seconds(pid: int) -> float | None:
    """CPU time of a process and its children: its own, what the children it waited for used
    (cutime, cstime: a server's backends that ended) and each live child's own."""
    stat = _stat(pid)
    if stat is None:
        return None
    ticks = stat[UTIME] + stat[STIME] + stat[CUTIME] + stat[CSTIME]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (child := _stat(int(entry.name))) and child[PPID] == pid:
            ticks += child[UTIME] + child[STIME]
    return ticks / CLOCK_TICKS


def listening_pid(port: int) -> int | None:
    """The process listening on TCP `port` of this machine, from the kernel's socket tables
    and each process's open files (all of them readable as root); None when none is found."""
    sockets = {f"socket:[{inode}]" for inode in _listening_inodes(port)}
    if not sockets:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with suppress(OSError):
                    if os.readlink(fd) in sockets:
                        return int(entry.name)
    return None


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                _, local, _, state, *_, inode = line.split()[:10]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    inodes.add(inode)
    return inodes


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def tail(self, lines: int = 5) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


@dataclass
class Children:
    """Every process the bench started, so that all of them are stopped whatever happens."""

    log_dir: Path
    running: list[Child] = field(default_factory=list)

    async def start(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        stdout_pipe: bool = False,
    ) -> Child:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}-{len(self.running)}.log"
        with log.open("wb") as sink:
            process = await asyncio.create_subprocess_exec(
                *args,
                env=dict(env if env is not None else os.environ),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE if stdout_pipe else sink,
                stderr=sink,
                start_new_session=True,  # Ctrl-C reaches the bench only; it stops the rest
                preexec_fn=_die_with_parent,
            )
        child = Child(name, process, log)
        self.running.append(child)
        with (self.log_dir / "children.txt").open("a") as index:
            index.write(f"{process.pid} {name} {log.name}\n")
        return child

    async def output(self, child: Child, within: float) -> str:
        """All a piped child prints until it exits (bounded by `within`), then it is stopped."""
        assert child.process.stdout is not None
        try:
            out = await asyncio.wait_for(child.process.stdout.read(), within)
            # reap it before stop() could signal it: no second wait on the same pid
            await asyncio.wait_for(child.process.wait(), 10)
        finally:
            await self.stop(child)
        return out.decode(errors="replace")

    async def stop(self, child: Child, grace: float = 8.0) -> None:
        """SIGTERM (workers drain, `chargehook run` stops its PostgreSQL), then SIGKILL."""
        if child.process.returncode is None:
            with suppress(ProcessLookupError):
                child.process.terminate()
            try:
                await asyncio.wait_for(child.process.wait(), grace)
            except TimeoutError:
                with suppress(ProcessLookupError):
                    child.process.kill()
                await child.process.wait()
        if child in self.running:
            self.running.remove(child)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(child) for child in list(self.running)))


async def command(args: Sequence[str], env: Mapping[str, str] | None = None) -> str:
    """Run a short command; its stdout, or RuntimeError with its stderr."""
    process = await asyncio.create_subprocess_exec(
        *args,
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), 120)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise RuntimeError(f"{' '.join(args[:3])} timed out") from None
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(args[:4])} failed: {err.decode(errors='replace')[-800:]}")
    return out.decode()


def chargehook_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "chargehook", *args]
