"""Imports a channel's daily settlement file and shows the reconciliation report (对账, R30).

    python -m ops.reconciliation import settlement.csv --channel WECHAT --date 2023-11-20 [--chunk-size 2000]
    python -m ops.reconciliation report --channel WECHAT --date 2023-11-20 [--version N]

The file is CSV with a header: channel_transaction_id, amount (yuan, e.g. 380.00), time (ISO 8601 or
"YYYY-MM-DD HH:MM:SS", China Standard Time), and optionally order_id. It is read as a stream and sent in
chunks; importing the same file again changes nothing, a corrected file makes a new report version.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc
from medins.common.v1 import common_pb2

from ops.grpc_cli import describe_error
from services.common.clock import CST
from services.common.money import fen_from_yuan_text, yuan_text
from services.common.proto_values import date_to_proto, timestamp

REQUIRED = ("channel_transaction_id", "amount", "time")


class BadFile(Exception):
    """A line the CLI cannot read; reported with its line number, no traceback."""


def parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.strip().replace("/", "-"))
    return value.replace(tzinfo=CST) if value.tzinfo is None else value


def records(path: Path) -> Iterator[pb.SettlementRecord]:
    """The file's records, one at a time (line numbers count data lines from 1)."""
    with open(path, encoding="utf-8-sig", newline="") as source:
        reader = csv.DictReader(source)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise BadFile(f"{path}: the header lacks {', '.join(missing)}")
        for number, row in enumerate(reader, start=1):
            try:
                amount = fen_from_yuan_text(row["amount"] or "")
                settled = parse_time(row["time"] or "")
            except ValueError as error:
                raise BadFile(f"{path} line {number + 1}: {error}") from None
            yield pb.SettlementRecord(
                channel_transaction_id=(row["channel_transaction_id"] or "").strip(),
                order_id=(row.get("order_id") or "").strip(),
                amount_fen=amount,
                settle_time=timestamp(settled),
                line_number=number,
            )


def count_records(path: Path) -> int:
    with open(path, encoding="utf-8-sig", newline="") as source:
        return max(sum(1 for _ in csv.reader(source)) - 1, 0)


def chunks(path: Path, size: int) -> Iterator[list[pb.SettlementRecord]]:
    batch: list[pb.SettlementRecord] = []
    for record in records(path):
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def channel_value(name: str) -> common_pb2.PaymentChannel.ValueType:
    try:
        return common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{name.upper()}")
    except ValueError:
        raise BadFile(f"unknown channel {name}") from None


def import_file(
    stub: pb_grpc.CollectionServiceStub, path: Path, channel: str, day: dt.date, size: int
) -> pb.ImportChannelSettlementResponse:
    total = count_records(path)
    count = max(1, -(-total // size))
    upload_id = str(uuid.uuid4())
    reply = pb.ImportChannelSettlementResponse()
    sent = 0
    for index, batch in enumerate(chunks(path, size) if total else iter([[]])):
        reply = stub.ImportChannelSettlement(
            pb.ImportChannelSettlementRequest(
                request_id=f"{upload_id}:{index}",
                channel=channel_value(channel),
                settlement_date=date_to_proto(day),
                records=batch,
                upload_id=upload_id,
                chunk_index=index,
                chunk_count=count,
            ),
            timeout=120,
        )
        sent += len(batch)
        sys.stderr.write(f"chunk {index + 1}/{count}: {sent}/{total} records sent\n")
    return reply


def print_report(report: pb.GetReconciliationReportResponse) -> None:
    out = sys.stdout
    out.write(
        f"version {report.version} of {report.version_count}: {report.file_record_count} lines in the file, "
        f"{report.matched_count} matched ({yuan_text(report.matched_amount_fen)} yuan), "
        f"{len(report.mismatches)} findings\n"
    )
    writer = csv.writer(out)
    writer.writerow(["outcome", "line", "channel_transaction_id", "order_id", "payment_id", "tax_yuan", "channel_yuan"])
    for m in report.mismatches:
        writer.writerow(
            [
                pb.MismatchKind.Name(m.kind).removeprefix("MISMATCH_KIND_")
                + (" (R22 refused notification)" if m.refused_notification else ""),
                m.line_number or "",
                m.channel_transaction_id,
                m.order_id,
                m.payment_id,
                yuan_text(m.tax_amount_fen) if m.tax_amount_fen else "",
                yuan_text(m.channel_amount_fen) if m.channel_amount_fen else "",
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("import", "report"))
    parser.add_argument("file", nargs="?", type=Path)
    parser.add_argument("--channel", required=True, help="WECHAT, ALIPAY, BANK_APP, ...")
    parser.add_argument("--date", required=True, type=dt.date.fromisoformat, help="settlement day, YYYY-MM-DD")
    parser.add_argument("--version", type=int, default=0, help="report version (default: the latest)")
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--address", default="127.0.0.1:50053")
    args = parser.parse_args()
    if args.command == "import" and args.file is None:
        parser.error("give the settlement file to import")
    if not 1 <= args.chunk_size <= 5000:
        parser.error("--chunk-size must be between 1 and 5000")
    try:
        with grpc.insecure_channel(args.address) as channel:
            stub = pb_grpc.CollectionServiceStub(channel)
            if args.command == "import":
                reply = import_file(stub, args.file, args.channel, args.date, args.chunk_size)
                state = "unchanged" if reply.unchanged else "new"
                sys.stderr.write(f"imported: report version {reply.report_version} ({state})\n")
            report = stub.GetReconciliationReport(
                pb.GetReconciliationReportRequest(
                    channel=channel_value(args.channel),
                    settlement_date=date_to_proto(args.date),
                    version=0 if args.command == "import" else args.version,
                ),
                timeout=60,
            )
    except grpc.RpcError as error:
        sys.stderr.write(describe_error(error) + "\n")
        sys.exit(1)
    except (BadFile, OSError) as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(1)
    print_report(report)


if __name__ == "__main__":
    main()
