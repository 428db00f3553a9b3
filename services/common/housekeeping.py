"""Retention in each agency database: published outbox rows and old request ids are removed after
their retention (request ids are kept well beyond the 24 hours clients may retry within)."""

from __future__ import annotations

import datetime as dt

import structlog

from services.common.db import Pool

log = structlog.get_logger(__name__)


async def purge_expired(pool: Pool, *, idempotency_retention: dt.timedelta, outbox_retention: dt.timedelta) -> int:
    """Deletes what is past retention; returns how many rows went."""
    async with pool.acquire() as conn:
        keys = await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < now() - $1::interval", idempotency_retention
        )
        rows = await conn.execute(
            "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
            outbox_retention,
        )
    removed = int(keys.split()[-1]) + int(rows.split()[-1])
    if removed:
        log.info("housekeeping_purged", idempotency_keys=keys, outbox_rows=rows)
    return removed
