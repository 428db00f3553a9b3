"""Per-run infrastructure on the real servers: two fresh databases and a RabbitMQ vhost per stack,
dropped afterwards. Names carry the test process id, so leftovers of a killed run are recognised
and removed by the next run."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from services.common.messaging.broker import connect_broker
from services.common.messaging.topology import declare_topology
from services.common.migrations import drop_database, ensure_database, migrate_database
from services.common.settings import Settings

TEST_RETRY_DELAYS_MS = (200, 500)
_PREFIX = "medins_t"
_NAME = re.compile(rf"^{_PREFIX}(\d+)_")


@dataclass(frozen=True)
class Stack:
    name: str

    @property
    def tag(self) -> str:
        return f"{_PREFIX}{os.getpid()}_{self.name}"

    @property
    def insurance_db(self) -> str:
        return f"{self.tag}_insurance"

    @property
    def tax_db(self) -> str:
        return f"{self.tag}_tax"

    @property
    def vhost(self) -> str:
        return self.tag

    def env(self) -> dict[str, str]:
        return {
            "MEDINS_INSURANCE_DB": self.insurance_db,
            "MEDINS_TAX_DB": self.tax_db,
            "MEDINS_AMQP_URL": f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            "MEDINS_RETRY_DELAYS_MS": "[" + ",".join(str(d) for d in TEST_RETRY_DELAYS_MS) + "]",
        }

    def settings(self, **overrides: object) -> Settings:
        return Settings(
            insurance_db=self.insurance_db,
            tax_db=self.tax_db,
            amqp_url=f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            retry_delays_ms=TEST_RETRY_DELAYS_MS,
            **overrides,  # type: ignore[arg-type]
        )


@asynccontextmanager
async def scratch_database(stack: Stack, suffix: str) -> AsyncIterator[asyncpg.Connection]:
    """An empty database of the stack's, named `<tag>_<suffix>` (so a killed run's is removed with its
    other leftovers), connected; dropped on exit."""
    settings = stack.settings()
    name = f"{stack.tag}_{suffix}"
    await ensure_database(settings.admin_dsn, name)
    conn = await asyncpg.connect(settings.dsn(name))
    try:
        yield conn
    finally:
        await conn.close()
        await drop_database(settings.admin_dsn, name)


def _rabbitmqctl(*args: str, check: bool = True) -> str:
    return subprocess.run(["rabbitmqctl", "-q", *args], check=check, capture_output=True, text=True, timeout=60).stdout


async def rabbitmqctl(*args: str, check: bool = True) -> str:
    """rabbitmqctl off the event loop (it takes a second or two per call)."""
    return await asyncio.to_thread(_rabbitmqctl, *args, check=check)


async def create_stack(stack: Stack) -> None:
    settings = stack.settings()
    for agency, name in (("insurance", stack.insurance_db), ("tax", stack.tax_db)):
        await drop_database(settings.admin_dsn, name)
        await ensure_database(settings.admin_dsn, name)
        await migrate_database(settings.dsn(name), agency)
    await rabbitmqctl("add_vhost", stack.vhost)
    await rabbitmqctl("set_permissions", "-p", stack.vhost, "guest", ".*", ".*", ".*")
    connection = await connect_broker(settings.amqp_url, attempts=5)
    try:
        await declare_topology(await connection.channel(), settings.retry_delays_ms)
    finally:
        await connection.close()


async def drop_stack(stack: Stack) -> None:
    settings = stack.settings()
    await drop_database(settings.admin_dsn, stack.insurance_db)
    await drop_database(settings.admin_dsn, stack.tax_db)
    await rabbitmqctl("delete_vhost", stack.vhost, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def remove_leftovers() -> None:
    """Drops databases and vhosts of earlier test runs whose process is gone."""
    settings = Settings()
    conn = await asyncpg.connect(settings.admin_dsn)
    try:
        names = [
            r["datname"] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'medins_t%'")
        ]
    finally:
        await conn.close()
    for name in names:
        match = _NAME.match(name)
        if match and not _alive(int(match.group(1))):
            await drop_database(settings.admin_dsn, name)
    for vhost in (await rabbitmqctl("list_vhosts")).split():
        match = _NAME.match(vhost)
        if match and not _alive(int(match.group(1))):
            await rabbitmqctl("delete_vhost", vhost, check=False)
