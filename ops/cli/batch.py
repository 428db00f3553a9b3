"""`medins batch`: batch registration (批量参保申报, R9) from the filled CSV template (增员报盘模板), with a
progress bar; the work is ops/batch_upload.py's (parse, chunks of 2,000 rows, idempotent resubmission).

    medins batch template > rows.csv
    medins batch upload rows.csv --batch-id B1 --submitter CZ-S001 [--results out.csv]
"""

from __future__ import annotations

import argparse
import sys

import grpc
from medins.registration.v1 import registration_service_pb2 as pb

from ops import batch_upload
from ops.cli import services
from ops.cli.errors import CallFailed, CliError, refusal_of
from ops.cli.progress import ProgressBar
from ops.cli.show import note


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{template,upload}")
    actions.add_parser("template", help="print an empty template (Chinese headers) with one example row")
    upload = actions.add_parser("upload", help="register every row of a filled template as one batch")
    upload.add_argument("file", metavar="FILE", help="the CSV file (UTF-8, English or Chinese headers)")
    upload.add_argument("--batch-id", required=True, help="the batch's id; the same file again registers nobody twice")
    upload.add_argument("--submitter", required=True, help="school or village/community committee code")
    upload.add_argument("--results", help="write each row's result to this CSV (default: standard output)")
    services.add_address(upload, services.REGISTRATION)


def run(args: argparse.Namespace) -> int:
    if args.action == "template":
        sys.stdout.write(batch_upload.template())
        return 0
    try:
        with open(args.file, encoding="utf-8-sig") as source:
            rows, refused = batch_upload.parse(source.read())
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from None
    address = services.address_of(args, services.REGISTRATION)
    bar = ProgressBar(len(rows), "rows")
    try:
        results = batch_upload.upload(address, args.batch_id, args.submitter, rows, progress=bar.update)
    except grpc.RpcError as error:
        raise CallFailed(services.REGISTRATION, address, refusal_of(error)) from None
    finally:
        bar.close()
    try:
        if args.results:
            with open(args.results, "w", encoding="utf-8", newline="") as out:
                batch_upload.write_results(out, results, refused)
        else:
            batch_upload.write_results(sys.stdout, results, refused)
    except OSError as exc:
        raise CliError(f"cannot write {args.results}: {exc}") from None
    accepted = sum(1 for r in results if r.outcome != pb.ROW_OUTCOME_REFUSED)
    total = len(results) + len(refused)
    note(f"batch {args.batch_id}: {total} rows, {accepted} accepted, {total - accepted} refused")
    return 0
