"""A local three-node RabbitMQ cluster and a PostgreSQL primary with a synchronous standby, for
tests and drills: `python -m lab.cluster up|down|status`.

Everything runs beside the machine's own RabbitMQ (rabbit@localhost, 5672) and PostgreSQL
(5432), never through them: the nodes c1..c3@localhost have their own ports, configuration
files, plugins file, data, logs and pid files under one directory of ours (default
$TMPDIR/chargehook-cluster), and the two PostgreSQL servers their own data directories there.
Only epmd (4369) and the rabbitmq user's Erlang cookie are shared: the nodes run as that user so
that they and rabbitmqctl trust each other. The PostgreSQL servers run as the postgres user.
Stopping touches only processes whose pid files and data directories are ours.

| what | AMQP | management | distribution |
| --- | --- | --- | --- |
| c1@localhost | 5681 | 15681 | 25681 |
| c2@localhost | 5682 | 15682 | 25682 |
| c3@localhost | 5683 | 15683 | 25683 |

PostgreSQL starts as a primary on 5441 with a synchronous standby (`application_name=standby`)
on 5442; after a failover the roles swap, and `database_url` names both hosts, so a client
finds whichever is the primary now (`target_session_attrs=read-write`).
"""

import argparse
import asyncio
import base64
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import aiohttp
import asyncpg
import msgspec

DEFAULT_DIRECTORY = Path(tempfile.gettempdir()) / "chargehook-cluster"
RABBITMQ_BIN = Path("/usr/lib/rabbitmq/bin")
# The rabbitmq user's home: its .erlang.cookie is the one the nodes and rabbitmqctl share.
RABBITMQ_HOME = Path("/var/lib/rabbitmq")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
NODES = (1, 2, 3)
PG_PORTS = (5441, 5442)
STANDBY_NAME = "standby"
DATABASE = "chargehook"  # made empty at a fresh start, for `chargehook` to migrate
# rabbitmqctl listens on one of these while it runs: a range of ours, not the system's 35672+.
CTL_DIST_PORTS = (35691, 35699)
# guest/guest, which RabbitMQ lets in from loopback only
GUEST = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()}

Role = Literal["primary", "standby"]


class ClusterError(Exception):
    """Something of the cluster's did not start, stop, join or answer in time."""


@dataclass(frozen=True)
class QueueLeader:
    """Where a quorum queue lives, as the management API tells it."""

    name: str
    leader: str
    members: tuple[str, ...]
    online: tuple[str, ...]


@dataclass(frozen=True)
class Status:
    nodes: dict[str, bool]  # node name -> its app runs (its AMQP port answers)
    members: tuple[str, ...]  # the cluster's nodes as a running node sees them, stopped ones too
    queues: tuple[QueueLeader, ...]  # quorum queues
    postgres: dict[int, Role | None]  # port -> role, None when down


def node_name(n: int) -> str:
    return f"c{n}@localhost"


def amqp_port(n: int) -> int:
    return 5680 + n


def management_port(n: int) -> int:
    return 15680 + n


def dist_port(n: int) -> int:
    return 25680 + n


def amqp_urls() -> list[str]:
    """One URL a node, in node order: CHARGEHOOK_AMQP_URL takes them comma-separated."""
    return [f"amqp://guest:guest@127.0.0.1:{amqp_port(n)}/" for n in NODES]


def management_urls() -> list[str]:
    """Without a trailing slash: chargehook puts `/api/...` after CHARGEHOOK_MANAGEMENT_URL."""
    return [f"http://127.0.0.1:{management_port(n)}" for n in NODES]


def database_url(dbname: str = "postgres") -> str:
    """Both servers, the primary found by asking: the same URL works before and after a
    failover."""
    hosts = ",".join(f"127.0.0.1:{port}" for port in PG_PORTS)
    return f"postgresql://postgres@{hosts}/{dbname}?target_session_attrs=read-write"


# Running commands as the services' users


def _as(user: str) -> list[str]:
    """The prefix that runs a command as `user`: runuser when root, nothing when already them."""
    if os.geteuid() == 0:
        return ["runuser", "-u", user, "--"]
    if pwd.getpwuid(os.geteuid()).pw_name == user:
        return []
    raise ClusterError(f"run as root: the cluster's processes run as the {user} user")


async def _run(
    user: str,
    *argv: str,
    env: Mapping[str, str] | None = None,
    cwd: Path,
    log: Path | None = None,
    within: float = 120,
) -> str:
    """Runs `argv` as `user` with `env` added to ours; its stdout, or ClusterError with its
    stderr. A command that leaves a daemon behind writes to `log`: a pipe the daemon inherited
    would keep us waiting for as long as it runs."""
    settings = [f"{name}={value}" for name, value in (env or {}).items()]
    command = [*_as(user), "env", *settings, *argv]
    output = log.open("ab") if log is not None else None
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=output or asyncio.subprocess.PIPE,
            stderr=output or asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise ClusterError(f"{' '.join(argv)}: no answer within {within}s") from None
    finally:
        if output is not None:
            output.close()
    if process.returncode != 0:
        said = (err or b"").decode(errors="replace").strip() or f"see {log}"
        raise ClusterError(f"{' '.join(argv)} exited {process.returncode}: {said}")
    return (out or b"").decode(errors="replace")


async def _until(
    probe: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.2
) -> None:
    deadline = time.monotonic() + within
    while not await probe():
        if time.monotonic() > deadline:
            raise ClusterError(f"{what}: not within {within}s")
        await asyncio.sleep(interval)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _own_directory(path: Path, user: str | None = None, mode: int = 0o755) -> Path:
    """Makes `path` (and its parents) if missing, with `mode`; hands it to `user` when root."""
    if not path.exists():
        path.mkdir(parents=True)
        path.chmod(mode)
        if user is not None and os.geteuid() == 0:
            shutil.chown(path, user, user)
    return path


def _reachable(directory: Path) -> None:
    """The rabbitmq and postgres users must reach their directories under `directory`: a path
    through a root-only directory (/root, say) fails later, and less clearly, at their boot."""
    for path in (directory, *directory.parents):
        if path.exists() and not path.stat().st_mode & 0o001:
            raise ClusterError(f"{path} is closed to the rabbitmq and postgres users: use another")


def _alive(pid: int) -> bool:
    """Whether `pid` still runs. A zombie does not: a detached node's parent is PID 1, which
    may take its time to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def _until_gone(pid: int, within: float, what: str) -> None:
    async def gone() -> bool:
        return not _alive(pid)

    await _until(gone, within, what, interval=0.1)


# RabbitMQ


def _node_dir(directory: Path, n: int) -> Path:
    return directory / "rabbitmq" / f"c{n}"


def _node_env(directory: Path, n: int) -> dict[str, str]:
    """Everything a node of ours and rabbitmqctl need, none of it the system node's: its own
    rabbitmq-env.conf, too, since the system's names the node rabbit@localhost."""
    home = _node_dir(directory, n)
    return {
        "HOME": str(RABBITMQ_HOME),
        "RABBITMQ_CONF_ENV_FILE": str(home / "rabbitmq-env.conf"),
        "RABBITMQ_NODENAME": node_name(n),
        "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(home / "mnesia"),
        "RABBITMQ_LOG_BASE": str(home / "log"),
        "RABBITMQ_PID_FILE": str(home / "pid"),
        "RABBITMQ_DIST_PORT": str(dist_port(n)),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_CTL_DIST_PORT_MIN": str(CTL_DIST_PORTS[0]),
        "RABBITMQ_CTL_DIST_PORT_MAX": str(CTL_DIST_PORTS[1]),
        "ERL_CRASH_DUMP": str(home / "erl_crash.dump"),
    }


def _write_node_files(directory: Path, n: int) -> None:
    home = _own_directory(_node_dir(directory, n), "rabbitmq", 0o750)
    (home / "rabbitmq-env.conf").write_text("# lab/cluster.py: the environment comes from it\n")
    (home / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{amqp_port(n)}\n"
        f"management.tcp.ip = 127.0.0.1\n"
        f"management.tcp.port = {management_port(n)}\n"
    )
    (home / "enabled_plugins").write_text("[rabbitmq_management].\n")


def _node_pid(directory: Path, n: int) -> int | None:
    """Node n's Erlang VM when it runs: its pid file's pid, if /proc shows that process has our
    data directory in its environment (a stale file's pid may be anyone's by now)."""
    home = _node_dir(directory, n)
    try:
        pid = int((home / "pid").read_text().strip())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    return pid if f"RABBITMQ_MNESIA_BASE={home / 'mnesia'}".encode() in environ else None


async def _ctl(directory: Path, n: int, *args: str) -> str:
    return await _run(
        "rabbitmq",
        str(RABBITMQ_BIN / "rabbitmqctl"),
        "-q",
        "-n",
        node_name(n),
        *args,
        env=_node_env(directory, n),
        cwd=_node_dir(directory, n),
    )


async def _management(n: int, path: str) -> Any:
    """GET `path` of node n's management API, decoded; None when the node does not answer
    (stopped, still starting) or does not know it (404)."""
    url = f"http://127.0.0.1:{management_port(n)}/api/{path}"
    timeout = aiohttp.ClientTimeout(total=5)
    try:
        async with (
            aiohttp.ClientSession(headers=GUEST, timeout=timeout) as http,
            http.get(url) as answer,
        ):
            if answer.status != 200:
                return None
            return msgspec.json.decode(await answer.read())
    except (aiohttp.ClientError, TimeoutError):
        return None


async def _from_any_node(path: str) -> Any:
    """The first answer of node 1, 2 or 3 to `path`: whichever runs."""
    for n in NODES:
        found = await _management(n, path)
        if found is not None:
            return found
    return None


async def _members(n: int) -> dict[str, bool] | None:
    """The cluster's nodes as node n sees them, each with whether it runs; None if n is down."""
    nodes = await _management(n, "nodes?columns=name,running")
    if nodes is None:
        return None
    return {node["name"]: bool(node["running"]) for node in nodes}


async def _launch(directory: Path, n: int) -> None:
    """Starts node n detached and waits for its AMQP and management ports. A node that was in
    the cluster finds the others itself (its mnesia directory remembers them); at a full
    restart it waits for them at boot, so the nodes are launched together."""
    for port in (amqp_port(n), management_port(n), dist_port(n)):
        if _listening(port):
            raise ClusterError(f"port {port} of {node_name(n)} is taken by something else")
    _write_node_files(directory, n)
    home = _node_dir(directory, n)
    await _run(
        "rabbitmq",
        str(RABBITMQ_BIN / "rabbitmq-server"),
        "-detached",
        env=_node_env(directory, n),
        cwd=home,
        log=home / "start.log",
    )

    async def booted() -> bool:
        if not _listening(amqp_port(n)):
            return False
        return await _management(n, "overview?columns=node") is not None

    try:
        await _until(booted, 180, f"{node_name(n)} to boot")
    except ClusterError as exc:
        raise ClusterError(f"{exc}; see {home / 'log'}") from None


async def _join(directory: Path, n: int, seed: int) -> None:
    await _ctl(directory, n, "stop_app")
    await _ctl(directory, n, "join_cluster", node_name(seed))
    await _ctl(directory, n, "start_app")


async def _until_clustered(within: float = 120) -> None:
    """Until a node sees all three, each running: cluster_status's running nodes."""

    async def clustered() -> bool:
        for n in NODES:
            members = await _members(n)
            if members is not None:
                return members == {node_name(m): True for m in NODES}
        return False

    await _until(clustered, within, "three running nodes in the cluster", interval=0.5)


async def _rabbitmq_up(directory: Path) -> None:
    stopped = [n for n in NODES if _node_pid(directory, n) is None]
    await asyncio.gather(*(_launch(directory, n) for n in stopped))
    seen = await _members(1) or {}
    for n in NODES[1:]:
        if node_name(n) not in seen:
            await _join(directory, n, seed=1)
    await _until_clustered()


async def stop_node(n: int, *, kill: bool = False, directory: Path = DEFAULT_DIRECTORY) -> None:
    """Stops node n: SIGTERM, which RabbitMQ takes for a clean shutdown, or SIGKILL for a crash.
    Its data stays: start_node(n) brings it back into the cluster."""
    pid = _node_pid(directory, n)
    if pid is None:
        return
    os.kill(pid, signal.SIGKILL if kill else signal.SIGTERM)
    await _until_gone(pid, 60, f"{node_name(n)} to stop")


async def start_node(n: int, *, directory: Path = DEFAULT_DIRECTORY) -> None:
    """Starts node n again; it rejoins the cluster by itself. Returns once all three run."""
    if _node_pid(directory, n) is None:
        await _launch(directory, n)
    await _until_clustered()


async def queue_leader(queue_name: str, vhost: str = "/") -> QueueLeader:
    """Where a quorum queue's leader and members are, from whichever node answers. The
    management API refreshes `online` every few seconds (its statistics interval), so a node
    just stopped or started shows there a little later: poll for the change."""
    found = await _from_any_node(f"queues/{quote(vhost, safe='')}/{quote(queue_name, safe='')}")
    if found is None:
        raise LookupError(f"no running node knows queue {queue_name!r} in vhost {vhost!r}")
    return _queue_leader(found)


def _queue_leader(queue: dict[str, Any]) -> QueueLeader:
    return QueueLeader(
        name=queue["name"],
        leader=queue.get("leader") or "",
        members=tuple(queue.get("members") or ()),
        online=tuple(queue.get("online") or ()),
    )


# PostgreSQL


def _pg_dir(directory: Path, port: int) -> Path:
    return directory / "postgres" / str(port)


def _settings(port: int) -> str:
    """The cluster's part of postgresql.conf. A copy made with pg_basebackup carries it along;
    only the port is changed there. synchronous_commit = on waits for the standby to have
    flushed the commit, not applied it: a read on the standby may lag a commit by a moment."""
    return (
        "\n# lab/cluster.py\n"
        "listen_addresses = '127.0.0.1'\n"
        f"port = {port}\n"
        "unix_socket_directories = ''\n"
        "wal_level = replica\n"
        "max_wal_senders = 10\n"
        "wal_keep_size = '256MB'\n"
        "hot_standby = on\n"
        "synchronous_commit = on\n"
        f"synchronous_standby_names = '{STANDBY_NAME}'\n"
    )


def _set_port(data: Path, port: int) -> None:
    conf = data / "postgresql.conf"
    conf.write_text(re.sub(r"(?m)^port = \d+$", f"port = {port}", conf.read_text()))


def _initialized(data: Path) -> bool:
    return (data / "PG_VERSION").exists()


def _is_standby(data: Path) -> bool:
    return (data / "standby.signal").exists()


async def _pg(*argv: str, directory: Path, log: Path | None = None) -> str:
    return await _run("postgres", *argv, cwd=directory / "postgres", log=log)


async def _connect(port: int) -> asyncpg.Connection:
    return await asyncpg.connect(
        host="127.0.0.1", port=port, user="postgres", database="postgres", timeout=3
    )


async def _role(port: int) -> Role | None:
    """What the server on `port` is now, by asking it; None when it does not answer."""
    try:
        connection = await _connect(port)
        try:
            in_recovery = await connection.fetchval("SELECT pg_is_in_recovery()")
        finally:
            await connection.close()
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        return None  # down, starting, or stopping under our feet
    return "standby" if in_recovery else "primary"


async def _roles() -> dict[int, Role | None]:
    found = await asyncio.gather(*(_role(port) for port in PG_PORTS))
    return dict(zip(PG_PORTS, found, strict=True))


async def _until_role(port: int, role: Role, within: float = 60) -> None:
    async def there() -> bool:
        return await _role(port) == role

    await _until(there, within, f"PostgreSQL on {port} to be a {role}")


async def _pg_running(directory: Path, port: int) -> bool:
    data = _pg_dir(directory, port)
    if not _initialized(data):
        return False
    try:
        await _pg(str(POSTGRES_BIN / "pg_ctl"), "status", "-D", str(data), directory=directory)
    except ClusterError:  # exit 3: not running
        return False
    return True


async def _pg_start(directory: Path, port: int) -> None:
    if _listening(port):
        raise ClusterError(f"port {port} is taken by something else")
    data = _pg_dir(directory, port)
    log = directory / "postgres" / f"{port}.log"
    await _pg(
        str(POSTGRES_BIN / "pg_ctl"),
        "start",
        "-D",
        str(data),
        "-l",
        str(log),
        "-w",
        "-t",
        "60",
        directory=directory,
        # pg_ctl's own output to a file, not a pipe: the server it leaves running would hold
        # the pipe open; not the server's log, which the postgres user writes
        log=directory / "postgres" / f"{port}.pg_ctl.log",
    )


async def _pg_stop(directory: Path, port: int, mode: str = "fast") -> None:
    if await _pg_running(directory, port):
        data = _pg_dir(directory, port)
        await _pg(
            str(POSTGRES_BIN / "pg_ctl"),
            "stop",
            "-D",
            str(data),
            "-m",
            mode,
            "-w",
            "-t",
            "60",
            directory=directory,
        )


async def _initdb_primary(directory: Path, port: int) -> None:
    data = _pg_dir(directory, port)
    await _pg(
        str(POSTGRES_BIN / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-sync",
        directory=directory,
    )
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(_settings(port))
    await _pg_start(directory, port)
    await _until_role(port, "primary")


async def _make_standby(directory: Path, primary: int, port: int) -> None:
    """A fresh copy of `primary` on `port`, streaming from it as `standby`. Small databases copy
    in a second or two, so a copy is simpler than pg_rewind (which would need wal_log_hints)."""
    data = _pg_dir(directory, port)
    shutil.rmtree(data, ignore_errors=True)
    source = f"host=127.0.0.1 port={primary} user=postgres application_name={STANDBY_NAME}"
    await _pg(
        str(POSTGRES_BIN / "pg_basebackup"),
        "-d",
        source,
        "-D",
        str(data),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "--no-sync",
        directory=directory,
    )
    _set_port(data, port)
    await _pg_start(directory, port)
    await _until_role(port, "standby")


async def _synchronous(primary: int, names: str) -> None:
    """Sets synchronous_standby_names on the primary; with a name, waits until that standby is
    the synchronous one (until then every commit would wait)."""
    connection = await _connect(primary)
    try:
        await connection.execute(f"ALTER SYSTEM SET synchronous_standby_names = '{names}'")
        await connection.execute("SELECT pg_reload_conf()")

        async def applied() -> bool:
            setting = await connection.fetchval("SHOW synchronous_standby_names")
            if setting != names:
                return False
            if not names:
                return True
            state = await connection.fetchval(
                "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1", names
            )
            return bool(state == "sync")

        await _until(applied, 60, f"synchronous_standby_names = '{names}' on {primary}")
    finally:
        await connection.close()


async def _postgres_fresh(directory: Path) -> None:
    for port in PG_PORTS:
        await _pg_stop(directory, port)
    shutil.rmtree(directory / "postgres", ignore_errors=True)
    _own_directory(directory / "postgres", "postgres", 0o700)
    primary, standby = PG_PORTS
    await _initdb_primary(directory, primary)
    await _make_standby(directory, primary, standby)
    await _synchronous(primary, STANDBY_NAME)
    connection = await _connect(primary)  # only now: its commit waits for the standby
    try:
        await connection.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await connection.close()


async def _timeline(directory: Path, port: int) -> int:
    out = await _pg(
        str(POSTGRES_BIN / "pg_controldata"), str(_pg_dir(directory, port)), directory=directory
    )
    found = re.search(r"Latest checkpoint's TimeLineID:\s+(\d+)", out)
    return int(found.group(1)) if found else 0


async def _postgres_up(directory: Path) -> None:
    """Starts what is stopped without ever making two primaries: after a failover both data
    directories are primaries' (neither has standby.signal); the running one, else the one on
    the later timeline (the promoted one), stays the primary and the other is copied anew."""
    data = {port: _pg_dir(directory, port) for port in PG_PORTS}
    if not any(_initialized(d) for d in data.values()):
        await _postgres_fresh(directory)
        return
    roles = await _roles()
    primaries = [p for p in PG_PORTS if _initialized(data[p]) and not _is_standby(data[p])]
    if not primaries:
        raise ClusterError("no primary's data directory: reset_postgres() starts afresh")
    running = [p for p in primaries if roles[p] == "primary"]
    if running:
        primary = running[0]
    else:
        timelines = {p: await _timeline(directory, p) for p in primaries}
        primary = max(primaries, key=lambda p: timelines[p])
    if roles[primary] is None:
        await _pg_start(directory, primary)
        await _until_role(primary, "primary")
    (other,) = (p for p in PG_PORTS if p != primary)
    if _initialized(data[other]) and _is_standby(data[other]):
        if roles[other] is None:
            await _pg_start(directory, other)
            await _until_role(other, "standby")
    else:
        await _pg_stop(directory, other)
        await _make_standby(directory, primary, other)
    await _synchronous(primary, STANDBY_NAME)


async def stop_primary(
    mode: Literal["fast", "immediate"] = "fast", *, directory: Path = DEFAULT_DIRECTORY
) -> int:
    """Stops whichever server is the primary now (`immediate`: as a crash would); its port."""
    roles = await _roles()
    primary = next((p for p, role in roles.items() if role == "primary"), None)
    if primary is None:
        raise ClusterError(f"no primary runs: {roles}")
    await _pg_stop(directory, primary, mode)
    return primary


async def promote_standby(*, directory: Path = DEFAULT_DIRECTORY) -> int:
    """Promotes the standby once the primary is down; its port. The new primary runs alone, so it
    stops waiting for a synchronous standby (every commit would wait for one that is gone);
    start_old_primary_as_standby() gives it one again."""
    roles = await _roles()
    if "primary" in roles.values():
        raise ClusterError(f"a primary still runs ({roles}): stop_primary() first")
    standby = next((p for p, role in roles.items() if role == "standby"), None)
    if standby is None:
        raise ClusterError(f"no standby runs: {roles}")
    data = _pg_dir(directory, standby)
    await _pg(
        str(POSTGRES_BIN / "pg_ctl"),
        "promote",
        "-D",
        str(data),
        "-w",
        "-t",
        "60",
        directory=directory,
    )
    await _until_role(standby, "primary")
    await _synchronous(standby, "")
    return standby


async def start_old_primary_as_standby(*, directory: Path = DEFAULT_DIRECTORY) -> int:
    """The other server, copied anew from the primary of now, as its synchronous standby; its
    port. What an operator does after a failover, here with pg_basebackup."""
    roles = await _roles()
    primary = next((p for p, role in roles.items() if role == "primary"), None)
    if primary is None:
        raise ClusterError(f"no primary runs: {roles}")
    (other,) = (p for p in PG_PORTS if p != primary)
    if roles[other] != "standby":
        await _pg_stop(directory, other)  # if it runs as a primary too, it must not go on
        await _make_standby(directory, primary, other)
    await _synchronous(primary, STANDBY_NAME)
    return other


async def reset_postgres(*, directory: Path = DEFAULT_DIRECTORY) -> None:
    """Back to a fresh primary on 5441 with its synchronous standby on 5442 and an empty
    database `chargehook`: the data goes."""
    _reachable(directory)
    _own_directory(directory)
    await _postgres_fresh(directory)


# The whole cluster


async def up(*, fresh: bool = False, directory: Path = DEFAULT_DIRECTORY) -> None:
    """Starts whatever of the cluster is not running and waits until it serves: three running
    nodes, a primary with its synchronous standby. What runs already is reused; `fresh` stops
    everything first and starts on empty data directories."""
    if fresh:
        await down(directory=directory)
        shutil.rmtree(directory / "rabbitmq", ignore_errors=True)
        shutil.rmtree(directory / "postgres", ignore_errors=True)
    _reachable(directory)
    _own_directory(directory)
    _own_directory(directory / "rabbitmq")
    await asyncio.gather(_rabbitmq_up(directory), _postgres_up(directory))


async def down(*, directory: Path = DEFAULT_DIRECTORY) -> None:
    """Stops the three nodes and the two PostgreSQL servers of `directory`; their data stays
    (up() starts them again on it). Nothing else is touched."""
    await asyncio.gather(
        *(stop_node(n, directory=directory) for n in NODES),
        *(_pg_stop(directory, port) for port in PG_PORTS),
    )


async def status(*, directory: Path = DEFAULT_DIRECTORY) -> Status:
    nodes = {
        node_name(n): _node_pid(directory, n) is not None and _listening(amqp_port(n))
        for n in NODES
    }
    members: dict[str, bool] = {}
    for n in NODES:
        members = await _members(n) or {}
        if members:
            break
    queues = await _from_any_node("queues?columns=name,type,leader,members,online") or []
    return Status(
        nodes=nodes,
        members=tuple(sorted(members)),
        queues=tuple(_queue_leader(q) for q in queues if q.get("type") == "quorum"),
        postgres=await _roles(),
    )


# The command line


def _print_settings() -> None:
    """The URLs as chargehook's settings, for `eval "$(python -m lab.cluster up)"`."""
    management = [url.replace("http://", "http://guest:guest@") for url in management_urls()]
    for name, value in (
        ("CHARGEHOOK_AMQP_URL", ",".join(amqp_urls())),
        ("CHARGEHOOK_MANAGEMENT_URL", ",".join(management)),
        ("CHARGEHOOK_DATABASE_URL", database_url(DATABASE)),
    ):
        print(f"export {name}={shlex.quote(value)}")


def _print_status(found: Status) -> None:
    for name, running in found.nodes.items():
        print(f"{name}: {'running' if running else 'stopped'}")
    print("cluster members:", ", ".join(found.members) or "(no node answers)")
    for queue in found.queues:
        print(
            f"queue {queue.name}: leader {queue.leader}, online {', '.join(queue.online)}"
            f" of {', '.join(queue.members)}"
        )
    for port, role in found.postgres.items():
        print(f"postgresql 127.0.0.1:{port}: {role or 'down'}")


async def _main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lab.cluster", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIRECTORY, help="data, logs, pid files")
    parser.add_argument("--fresh", action="store_true", help="up: on empty data directories")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        if args.command == "up":
            await up(fresh=args.fresh, directory=args.dir)
            _print_settings()
        elif args.command == "down":
            await down(directory=args.dir)
        else:
            _print_status(await status(directory=args.dir))
    except ClusterError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    sys.stdout.flush()
    print(f"{args.command}: {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
