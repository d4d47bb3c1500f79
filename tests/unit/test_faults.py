"""Whose fault: a table of the errors the workers meet, each with the blame it gets."""

import aiormq
import asyncpg
import pamqp.exceptions
import pytest

from chargehook.plumbing.errors import BrokerUnavailable, RetryLater
from chargehook.plumbing.faults import is_infrastructure


def raised_from(exc: BaseException, cause: BaseException) -> BaseException:
    exc.__cause__ = cause
    return exc


def raised_while(exc: BaseException, context: BaseException) -> BaseException:
    exc.__context__ = context
    return exc


STATE_15 = "cannot switch to state 15; another operation (2) is in progress"

INFRASTRUCTURE = [
    # asyncpg's client side, whatever the class: the connection, the pool, the protocol
    asyncpg.exceptions.InternalClientError(STATE_15),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.exceptions.ProtocolError("unexpected message"),
    # PostgreSQL shutting down, restarting, full, read-only, or rolling back for concurrency
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.exceptions.CrashShutdownError("crash"),
    asyncpg.PostgresConnectionError("connection failure"),
    asyncpg.TooManyConnectionsError("too many clients"),
    asyncpg.exceptions.ReadOnlySQLTransactionError("read-only transaction"),
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.exceptions.LockNotAvailableError("could not obtain lock"),
    asyncpg.exceptions.DiskFullError("no space left"),
    # the network and the clock
    ConnectionResetError(104, "reset by peer"),
    OSError(111, "refused"),
    TimeoutError(),
    # the broker
    BrokerUnavailable("publish not confirmed"),
    RetryLater("later"),
    aiormq.exceptions.ChannelInvalidStateError("writer is None"),
    aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
    aiormq.exceptions.ChannelNotFoundEntity("no queue"),
    pamqp.exceptions.UnmarshalingException("frame", "bad"),
    # what was raised from one of the above
    raised_from(RuntimeError("wrapped"), asyncpg.InterfaceError("connection is closed")),
]

THE_MESSAGES_OWN = [
    ValueError("not a number"),
    KeyError("missing"),
    RuntimeError("a bug"),
    asyncpg.UniqueViolationError("duplicate key"),
    asyncpg.NotNullViolationError("null value"),
    asyncpg.exceptions.NumericValueOutOfRangeError("numeric field overflow"),
    asyncpg.DataError("invalid input for query argument $1"),
    asyncpg.exceptions.UndefinedColumnError("column does not exist"),
    # raised while handling an outage is not the outage: only `raise ... from` is followed
    raised_while(ValueError("bad"), OSError(111, "refused")),
]


@pytest.mark.parametrize("exc", INFRASTRUCTURE, ids=repr)
def test_the_infrastructure_is_to_blame(exc: BaseException) -> None:
    assert is_infrastructure(exc)


@pytest.mark.parametrize("exc", THE_MESSAGES_OWN, ids=repr)
def test_not_the_infrastructure(exc: BaseException) -> None:
    assert not is_infrastructure(exc)


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first
    assert not is_infrastructure(first)
