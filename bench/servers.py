"""The RabbitMQ and PostgreSQL servers' processes, when they run on this machine, so that a
stage's CPU counts theirs beside chargehook's; None for a server elsewhere or not found."""

import socket
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from yarl import URL

from bench.processes import cpu_seconds, family_cpu_seconds, listening_pid

AMQP_PORT = 5672


@dataclass(frozen=True)
class Server:
    name: str
    pid: int
    with_children: bool  # PostgreSQL: the postmaster and every backend it forked

    def cpu_seconds(self) -> float | None:
        return family_cpu_seconds(self.pid) if self.with_children else cpu_seconds(self.pid)


def on_this_machine(host: str | None) -> bool:
    """Whether `host` is an address of this machine: one a socket here can be bound to."""
    if not host:
        return True  # a Unix socket
    try:
        family, _, _, _, address = socket.getaddrinfo(host, None)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((address[0], 0))
    except OSError:
        return False
    return True


def rabbitmq(amqp_root: str) -> Server | None:
    """The process listening on the first node's AMQP port (beam.smp), if that node is here."""
    url = URL(amqp_root.split(",")[0].strip())
    if not on_this_machine(url.host):
        return None
    pid = listening_pid(url.port or AMQP_PORT)
    return None if pid is None else Server("RabbitMQ", pid, with_children=False)


async def postgresql(database_root: str) -> Server | None:
    """The postmaster, from the postmaster.pid in the server's data directory (readable by its
    own user and root), when the server answering `database_root` is the one on this machine."""
    connection = await asyncpg.connect(database_root)
    try:
        host = await connection.fetchval("SELECT host(inet_server_addr())")
        port = await connection.fetchval("SHOW port")
        data_directory = await connection.fetchval("SHOW data_directory")
    except asyncpg.PostgresError:  # data_directory: superusers and pg_read_all_settings only
        return None
    finally:
        await connection.close()
    if not on_this_machine(host):
        return None
    with suppress(OSError, IndexError, ValueError):
        lines = (Path(data_directory) / "postmaster.pid").read_text().splitlines()
        pid, listening = int(lines[0]), lines[3].strip()
        if listening == port and cpu_seconds(pid) is not None:
            return Server("PostgreSQL", pid, with_children=True)
    return None
