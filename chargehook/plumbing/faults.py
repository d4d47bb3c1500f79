"""Whose fault is it: the infrastructure's (retry the work, however long it takes) or maybe the
message's own (prove it before dead-lettering it). docs/broker.md#dead-letters has the rule.

Pure: it looks at an exception and its explicit causes (`raise ... from`), nothing else.
"""

from collections.abc import Iterator

import asyncpg

from chargehook.plumbing.errors import RetryLater

# SQLSTATE classes and codes after which the same work may well succeed later: connection
# exception, transaction rollback (serialization failure, deadlock), insufficient resources,
# operator intervention (shutdown, cannot connect now, query canceled), system error; a server
# that is read-only (a standby, or a primary being demoted), a lock not had in time, an object
# in use.
INFRASTRUCTURE_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
INFRASTRUCTURE_SQLSTATES = frozenset({"25006", "55P03", "55006"})
# Client libraries whose every error, but the ones below, is about the connection, the pool or
# the protocol, never about the message: asyncpg's InterfaceError and InternalClientError (say
# "cannot switch to state 15; another operation is in progress" on a connection the server
# dropped), aiormq's and aio-pika's channel and connection errors, pamqp's frame errors.
CLIENT_LIBRARIES = ("asyncpg", "aiormq", "aio_pika", "pamqp")
# asyncpg's DataError is a value the client could not encode: the message's content.
MESSAGE_ERRORS: tuple[type[BaseException], ...] = (asyncpg.DataError,)


def is_infrastructure(exc: BaseException) -> bool:
    """Whether `exc`, or what it was explicitly raised from, is a fault of the database, the
    broker or the network rather than of the work being done."""
    return any(_infrastructure(link) for link in causes(exc))


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it was raised from, and so on (never the implicit context: an error
    raised while handling another is not that other)."""
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__


def _infrastructure(exc: BaseException) -> bool:
    if isinstance(exc, MESSAGE_ERRORS):
        return False
    if isinstance(exc, RetryLater | OSError | TimeoutError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = exc.sqlstate or ""
        return state[:2] in INFRASTRUCTURE_SQLSTATE_CLASSES or state in INFRASTRUCTURE_SQLSTATES
    return type(exc).__module__.split(".")[0] in CLIENT_LIBRARIES


def is_from_a_service(exc: BaseException) -> bool:
    """Whether `exc` is the infrastructure's, or any answer of PostgreSQL's (a database that
    does not exist, a role refused): what a command reports as a service fault, not a bug."""
    return is_infrastructure(exc) or any(
        isinstance(link, asyncpg.PostgresError) for link in causes(exc)
    )
