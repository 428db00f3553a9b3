"""Importing a channel's settlement file and reading its reconciliation report (R30).

A file may come in chunks (one request each, same upload id); when its last chunk is in, it is compared
with the latest report version of that channel and day: the same content changes nothing, a corrected
file becomes the next version. A version is a snapshot: what matched at import time stays on record."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from services.collection.domain.model import Channel
from services.collection.domain.reconciliation import (
    Chunk,
    Finding,
    ReportVersion,
    SettlementLine,
    day_bounds,
    file_digest,
    matched_totals,
    reconcile,
)
from services.collection.ports import CollectionUow
from services.common.clock import Clock
from services.common.errors import InvalidArgument, NotFound

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class ImportResult:
    record_count: int
    chunks_received: int
    complete: bool
    version: int = 0
    unchanged: bool = False


@dataclass(frozen=True)
class Report:
    header: ReportVersion
    version_count: int
    mismatches: tuple[Finding, ...]


async def import_settlement(
    channel: Channel,
    day: dt.date,
    chunk: Chunk,
    lines: Sequence[SettlementLine],
    uow: CollectionUow,
    clock: Clock,
) -> ImportResult:
    now = clock.now()
    if day > now.date():
        raise InvalidArgument(
            "SETTLEMENT_DATE_IN_FUTURE",
            "a settlement day cannot be in the future",
            "对账日期不能晚于今天",
            field="settlement_date",
        )
    await uow.reconciliation.lock_day(channel, day)
    declared = await uow.reconciliation.chunk_count_of(channel, day, chunk.upload_id, chunk.count, now)
    if declared != chunk.count:
        raise InvalidArgument(
            "CHUNK_COUNT_CHANGED",
            f"upload {chunk.upload_id} was declared with {declared} chunks",
            "同一上传的分片总数不一致",
            field="chunk_count",
            metadata={"declared": declared},
        )
    fresh, stored = await uow.reconciliation.save_chunk(channel, day, chunk.upload_id, chunk.index, lines)
    if fresh and stored != len(lines):
        raise InvalidArgument(
            "DUPLICATE_LINE_NUMBER",
            "a line number of this chunk was already sent in this upload",
            "行号重复",
            field="records",
        )
    received = await uow.reconciliation.chunks_received(channel, day, chunk.upload_id)
    if received < chunk.count:
        return ImportResult(len(lines), received, complete=False)
    everything = await uow.reconciliation.upload_lines(channel, day, chunk.upload_id)
    await uow.reconciliation.drop_upload(channel, day, chunk.upload_id)
    digest = file_digest(everything)
    latest = await uow.reconciliation.latest(channel, day)
    if latest is not None and latest.file_sha256 == digest:
        log.info("settlement_unchanged", channel=channel, day=day.isoformat(), version=latest.version)
        return ImportResult(len(lines), received, complete=True, version=latest.version, unchanged=True)
    start, end = day_bounds(day)
    findings = reconcile(
        everything,
        await uow.reconciliation.payments_of_day(channel, start, end),
        await uow.reconciliation.refused_for_amount(channel, start, end),
    )
    matched, matched_fen = matched_totals(findings)
    version = (latest.version if latest else 0) + 1
    await uow.reconciliation.insert_report(
        channel, day, ReportVersion(version, digest, len(everything), matched, matched_fen, now), findings
    )
    log.info(
        "settlement_reconciled",
        channel=channel,
        day=day.isoformat(),
        version=version,
        lines=len(everything),
        matched=matched,
        mismatches=len(findings) - matched,
    )
    return ImportResult(len(lines), received, complete=True, version=version)


async def reconciliation_report(channel: Channel, day: dt.date, version: int, uow: CollectionUow) -> Report:
    if version < 0:
        raise InvalidArgument(
            "INVALID_VERSION", "version must be 0 (latest) or positive", "版本号无效", field="version"
        )
    header = await uow.reconciliation.version(channel, day, version)
    if header is None:
        raise NotFound(
            "REPORT_NOT_FOUND",
            f"no settlement of {channel} for {day.isoformat()} has been imported"
            + (f" as version {version}" if version else ""),
            "该渠道当日尚未导入对账文件",
            metadata={"channel": channel, "settlement_date": day.isoformat(), "version": version},
        )
    return Report(
        header,
        await uow.reconciliation.version_count(channel, day),
        tuple(await uow.reconciliation.mismatches(channel, day, header.version)),
    )
