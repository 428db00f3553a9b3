"""PostgreSQL access: a pool that waits for the server, and the unit of work (one transaction per use case)."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import asyncpg
import orjson
import structlog

from services.common import tracing
from services.common.errors import Unavailable

log = structlog.get_logger(__name__)

Pool = asyncpg.Pool
# What repositories receive: a pooled connection (a proxy) or a plain one; both speak the same API.
Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy


async def _keep_session(_connection: object) -> None:
    """The pool's release step. asyncpg still rolls back any open transaction and drops listeners on
    release; what we skip is its RESET ALL / UNLISTEN / advisory-unlock round trip, which costs as much
    as a whole lookup on the hot read path. Our sessions keep no state to reset: advisory locks are all
    transaction-scoped, settings are set at connect, and the relay removes its LISTEN itself."""


async def init_connection(connection: asyncpg.Connection) -> None:
    """jsonb arrives as Python values and is sent from them, on every connection alike: no caller has to
    guess whether a document comes back as text."""
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=lambda value: orjson.dumps(value).decode(), decoder=orjson.loads
    )


CLOSE_TIMEOUT_SECONDS = 10.0

# The database cannot be reached just now (down, full, failing over, dropping our session): nothing of
# the unit of work committed, so the same work can be tried again later. During a failover (issue 24)
# a node may be shutting down or starting up (CannotConnectNow, AdminShutdown), no node may accept
# writes yet (TargetServerAttributeNotMatched), and a session may end under a statement.
DATABASE_UNREACHABLE: tuple[type[BaseException], ...] = (
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.ReadOnlySQLTransactionError,
    ConnectionError,
    TimeoutError,
)


def database_name(dsn: str) -> str:
    """The database a connection string names, for logs (no hosts, no credentials, no options)."""
    return dsn.rsplit("/", 1)[-1].split("?", 1)[0]


async def close_pool(pool: Pool, grace_seconds: float = CLOSE_TIMEOUT_SECONDS) -> None:
    """Closes gracefully within a bound; connections still held after it are terminated, so a process
    told to stop always stops (a connection lost mid-call must not keep it alive)."""
    try:
        await asyncio.wait_for(pool.close(), timeout=grace_seconds)
    except TimeoutError:
        log.warning("database_pool_terminated", grace_seconds=grace_seconds)
        pool.terminate()


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, attempts: int = 0, idle_seconds: float = 300.0
) -> Pool:
    """Connects, retrying with back-off while the server is unreachable (attempts=0: forever). A
    connection idle for `idle_seconds` beyond the `min_size` is closed.

    A database that is down at start-up gives one clear log line per attempt, not a stack trace loop.
    """
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                command_timeout=30,
                max_inactive_connection_lifetime=idle_seconds,
                server_settings={"timezone": "Asia/Shanghai", "application_name": "medins"},
                reset=_keep_session,
                init=init_connection,
            )
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            if attempts and attempt >= attempts:
                raise
            log.warning(
                "database_unavailable",
                database=database_name(dsn),
                error=f"{type(exc).__name__}: {exc}",
                retry_in_seconds=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
            continue
        log.info("database_connected", database=database_name(dsn))
        return pool


async def _carry_trace_context(conn: Connection) -> None:
    """The current span's context, for the outbox rows this transaction writes: the column's default
    reads this transaction-local setting (platform migration 0003), so no repository has to pass it."""
    traceparent = tracing.current_traceparent()
    if traceparent is not None:
        await conn.execute("SELECT set_config('medins.trace_context', $1, true)", traceparent)


class UnitOfWork:
    """One transaction. Rolls back unless commit() was called; repositories share its connection.

    Agencies subclass it to attach their repositories in `_open()`.
    """

    conn: asyncpg.pool.PoolConnectionProxy

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._committed = False
        self._transactional = True

    def for_reading(self) -> Self:
        """This unit only reads, each statement on its own: no BEGIN and no ROLLBACK round trips. For a
        read that is one statement, or whose statements need not agree on one snapshot."""
        self._transactional = False
        return self

    async def __aenter__(self) -> Self:
        self.conn = await self._pool.acquire()
        if not self._transactional:
            self._open()
            return self
        try:
            self._tx = self.conn.transaction()
            await self._tx.start()
            if tracing.enabled():
                await _carry_trace_context(self.conn)
        except BaseException:
            # __aexit__ never runs when __aenter__ fails: give the connection back here, or the pool
            # can never close (a shutdown would hang on it).
            await self._pool.release(self.conn)
            raise
        self._committed = False
        self._open()
        return self

    def _open(self) -> None:
        """Hook for subclasses to build repositories over self.conn."""

    async def commit(self) -> None:
        if not self._transactional:
            raise RuntimeError("a unit of work for reading has nothing to commit")
        await self._tx.commit()
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._transactional and not self._committed:
                await self._tx.rollback()
        except Exception as failed:
            if exc is None:
                raise
            # The error in flight is the cause (a failed COMMIT, a connection gone): a rollback that
            # cannot run after it must not take its place. The server has ended the transaction, and
            # the pool's release rolls back or discards the connection.
            log.debug("rollback_after_error_failed", error=f"{type(failed).__name__}: {failed}")
        finally:
            await self._pool.release(self.conn)


class Database:
    """A pool that may not be connected yet, so a server can answer health checks before the database
    is up: until then every call gets UNAVAILABLE instead of a hang or a crash."""

    def __init__(self, dsn: str, *, min_size: int = 2, max_size: int = 10, idle_seconds: float = 300.0) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._idle_seconds = idle_seconds
        self._pool: Pool | None = None

    async def connect(self) -> None:
        self._pool = await create_pool(
            self._dsn, min_size=self._min_size, max_size=self._max_size, idle_seconds=self._idle_seconds
        )

    @property
    def pool(self) -> Pool:
        if self._pool is None:
            raise Unavailable("NOT_READY", "service is starting: database not connected yet", "服务正在启动,请稍后重试")
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await close_pool(self._pool)
            self._pool = None
