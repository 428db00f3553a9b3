"""Reconciliation (对账, R30): the tax side's payments of a channel and day against the channel's
settlement file. One outcome per file line (matched, channel only, amount differs, duplicate in file),
plus our payments the file lacks; notifications refused for their amount (R22) show up too."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

from services.common.clock import CST
from services.common.errors import InvalidArgument
from services.common.money import Fen

MAX_RECORDS_PER_CHUNK = 5_000
MAX_CHUNKS = 10_000
MAX_ID_LENGTH = 64


class Outcome(enum.StrEnum):
    MATCHED = "MATCHED"
    MISSING_IN_CHANNEL = "MISSING_IN_CHANNEL"  # ours only
    MISSING_IN_TAX = "MISSING_IN_TAX"  # channel only
    AMOUNT_DIFFERS = "AMOUNT_DIFFERS"
    DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"


@dataclass(frozen=True)
class SettlementLine:
    line_number: int
    channel_transaction_id: str
    order_id: str
    amount_fen: Fen
    settled_at: dt.datetime | None


@dataclass(frozen=True)
class OurPayment:
    payment_id: str
    channel_transaction_id: str
    order_id: str
    amount_fen: Fen


@dataclass(frozen=True)
class RefusedNotification:
    """A notification refused because its amount differed from the order (R22): no payment, but the
    channel may well have settled the money."""

    channel_transaction_id: str
    order_id: str
    notified_fen: Fen
    order_total_fen: Fen


@dataclass(frozen=True)
class Finding:
    outcome: Outcome
    channel_transaction_id: str
    line_number: int | None = None
    order_id: str | None = None
    payment_id: str | None = None
    tax_amount_fen: Fen | None = None
    channel_amount_fen: Fen | None = None
    refused_notification: bool = False


@dataclass(frozen=True)
class ReportVersion:
    """One version of a channel's and day's reconciliation report: the file it compared, what matched."""

    version: int
    file_sha256: bytes
    file_record_count: int
    matched_count: int
    matched_amount_fen: Fen
    created_at: dt.datetime


@dataclass(frozen=True)
class Chunk:
    upload_id: str
    index: int
    count: int


def checked_chunk(upload_id: str, index: int, count: int, records: int, request_id: str) -> Chunk:
    """A whole file in one request (count 0 or 1), or chunk `index` of `count` of one upload."""
    count = max(count, 1)
    if count > MAX_CHUNKS:
        raise InvalidArgument(
            "TOO_MANY_CHUNKS", f"at most {MAX_CHUNKS} chunks per file", "分片数量过多", field="chunk_count"
        )
    if not 0 <= index < count:
        raise InvalidArgument(
            "INVALID_CHUNK_INDEX",
            f"chunk_index must be between 0 and {count - 1}",
            "分片序号无效",
            field="chunk_index",
        )
    if records > MAX_RECORDS_PER_CHUNK:
        raise InvalidArgument(
            "TOO_MANY_RECORDS",
            f"at most {MAX_RECORDS_PER_CHUNK} records per request; send the file in chunks",
            f"每次最多{MAX_RECORDS_PER_CHUNK}条记录,请分片上传",
            field="records",
        )
    upload = upload_id.strip()
    if count > 1 and not upload:
        raise InvalidArgument(
            "FIELD_REQUIRED",
            "upload_id is required for a file sent in chunks",
            "分片上传须提供上传编号",
            field="upload_id",
        )
    if len(upload) > MAX_ID_LENGTH or not upload.isprintable():
        raise InvalidArgument("INVALID_UPLOAD_ID", "upload_id is too long", "上传编号过长", field="upload_id")
    return Chunk(upload or f"single:{request_id}", index, count)


def checked_line(
    position: int,
    line_number: int,
    transaction_id: str,
    order_id: str,
    amount_fen: int,
    settled_at: dt.datetime | None,
    *,
    single_chunk: bool,
) -> SettlementLine:
    """One record, checked; `position` names it in errors. Line numbers may be left out of a one-chunk file.

    Unlike a batch of registrations or notifications (R9 over R34, R41), a bad record refuses its whole
    chunk, naming the record: a settlement file is the channel's statement of a day, made by a machine,
    and reconciling part of it would report as missing payments that are only on the refused lines
    (R30). The channel sends the chunk again, corrected."""
    field = f"records[{position}]"
    number = line_number or (position + 1 if single_chunk else 0)
    if number <= 0:
        raise InvalidArgument(
            "FIELD_REQUIRED",
            "line_number is required in a chunked file",
            "分片上传须提供行号",
            field=f"{field}.line_number",
        )
    txn = transaction_id.strip()
    if not txn or len(txn) > MAX_ID_LENGTH or not txn.isprintable():
        raise InvalidArgument(
            "INVALID_TRANSACTION_ID",
            f"line {number}: channel_transaction_id must be 1-{MAX_ID_LENGTH} printable characters",
            f"第{number}行渠道交易流水号无效",
            field=f"{field}.channel_transaction_id",
        )
    if len(order_id) > MAX_ID_LENGTH or not order_id.isprintable():
        raise InvalidArgument(
            "INVALID_ORDER_ID",
            f"line {number}: order_id is invalid",
            f"第{number}行订单号无效",
            field=f"{field}.order_id",
        )
    if amount_fen <= 0:
        raise InvalidArgument(
            "INVALID_AMOUNT",
            f"line {number}: amount must be positive fen",
            f"第{number}行金额必须大于0",
            field=f"{field}.amount_fen",
        )
    return SettlementLine(number, txn, order_id.strip(), Fen(amount_fen), settled_at)


def file_digest(lines: Sequence[SettlementLine]) -> bytes:
    """What makes two imports the same file: every line, in line order."""
    digest = hashlib.sha256()
    for line in sorted(lines, key=lambda x: x.line_number):
        settled = line.settled_at.isoformat() if line.settled_at else ""
        digest.update(
            f"{line.line_number}|{line.channel_transaction_id}|{line.order_id}|{line.amount_fen}|{settled}\n".encode()
        )
    return digest.digest()


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The CST day as [start, end) instants: payments belong to the day the money moved (R4, R21a)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=CST)
    return start, start + dt.timedelta(days=1)


def reconcile(
    lines: Sequence[SettlementLine], payments: Sequence[OurPayment], refused: Sequence[RefusedNotification]
) -> list[Finding]:
    """File lines in line order, then our payments the file lacks, then refused notifications it lacks."""
    ours = {p.channel_transaction_id: p for p in payments}
    refused_by_txn = {r.channel_transaction_id: r for r in refused if r.channel_transaction_id not in ours}
    seen: set[str] = set()
    findings: list[Finding] = []
    for line in sorted(lines, key=lambda x: x.line_number):
        txn = line.channel_transaction_id
        payment = ours.get(txn)
        base = Finding(
            Outcome.MATCHED,
            txn,
            line_number=line.line_number,
            order_id=line.order_id or (payment.order_id if payment else None),
            payment_id=payment.payment_id if payment else None,
            tax_amount_fen=payment.amount_fen if payment else None,
            channel_amount_fen=line.amount_fen,
        )
        if txn in seen:
            findings.append(replace(base, outcome=Outcome.DUPLICATE_IN_FILE))
        elif payment is not None:
            findings.append(
                base if payment.amount_fen == line.amount_fen else replace(base, outcome=Outcome.AMOUNT_DIFFERS)
            )
        elif txn in refused_by_txn:
            note = refused_by_txn[txn]
            findings.append(
                Finding(
                    Outcome.AMOUNT_DIFFERS,
                    txn,
                    line_number=line.line_number,
                    order_id=note.order_id,
                    tax_amount_fen=note.order_total_fen,
                    channel_amount_fen=line.amount_fen,
                    refused_notification=True,
                )
            )
        else:
            findings.append(replace(base, outcome=Outcome.MISSING_IN_TAX))
        seen.add(txn)
    for payment in sorted(payments, key=lambda p: p.channel_transaction_id):
        if payment.channel_transaction_id not in seen:
            findings.append(
                Finding(
                    Outcome.MISSING_IN_CHANNEL,
                    payment.channel_transaction_id,
                    order_id=payment.order_id,
                    payment_id=payment.payment_id,
                    tax_amount_fen=payment.amount_fen,
                )
            )
    for note in sorted(refused_by_txn.values(), key=lambda r: r.channel_transaction_id):
        if note.channel_transaction_id not in seen:
            findings.append(
                Finding(
                    Outcome.AMOUNT_DIFFERS,
                    note.channel_transaction_id,
                    order_id=note.order_id,
                    tax_amount_fen=note.order_total_fen,
                    channel_amount_fen=note.notified_fen,
                    refused_notification=True,
                )
            )
    return findings


def matched_totals(findings: Sequence[Finding]) -> tuple[int, Fen]:
    matched = [f for f in findings if f.outcome is Outcome.MATCHED]
    return len(matched), Fen(sum(f.channel_amount_fen or 0 for f in matched))
