"""Uploads a filled registration template (增员报盘模板, CSV) as one batch and writes every row's result.

    python -m ops.batch_upload --template > template.csv
    python -m ops.batch_upload --batch-id school-2023-11 --submitter CZ-S001 rows.csv [--results out.csv]

Columns (English or the template's Chinese headers): row_number/序号, resident_id_number/身份证号码,
name/姓名, phone/手机号码, region_code/医保区划, school_code/学校代码, category/参保身份 (e.g.
COLLEGE_STUDENT or 高校大学生), evidence/材料 ("KIND:ref;KIND:ref", kinds by name or Chinese label).
Rows are sent in chunks of 2,000 under the same batch id; uploading the same file again returns the
stored results and registers nobody twice.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TextIO

import grpc
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb
from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from ops.grpc_cli import describe_error
from services.common.grpc_channels import channel
from services.registration.domain.batch import MAX_ROWS_PER_CALL
from services.registration.domain.model import CATEGORY_ZH, EVIDENCE_ZH

COLUMNS = ("row_number", "resident_id_number", "name", "phone", "region_code", "school_code", "category", "evidence")
CHINESE = dict(
    zip(("序号", "身份证号码", "姓名", "手机号码", "医保区划", "学校代码", "参保身份", "材料"), COLUMNS, strict=True)
)
RESULT_COLUMNS = ("row_number", "outcome", "enrollment_id", "reason", "field", "message")
_CATEGORIES = {**{str(c): str(c) for c in CATEGORY_ZH}, **{zh: str(c) for c, zh in CATEGORY_ZH.items()}}
_EVIDENCE = {**{str(k): str(k) for k in EVIDENCE_ZH}, **{zh: str(k) for k, zh in EVIDENCE_ZH.items()}}


@dataclass(frozen=True)
class LocalRefusal:
    row_number: int
    reason: str
    field: str
    message: str


def template() -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "身份证号码", "姓名", "手机号码", "医保区划", "学校代码", "参保身份", "材料"])
    writer.writerow(["1", "11010519491231002X", "张三", "13800138000", "340800", "", "老年居民", "居民户口簿:doc-001"])
    return out.getvalue()


def parse(text: str) -> tuple[list[pb.RegistrationRow], list[LocalRefusal]]:
    """Template rows → proto rows; a value the template cannot express is refused here, by row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    rows: list[pb.RegistrationRow] = []
    refused: list[LocalRefusal] = []
    for line, raw in enumerate(reader, start=2):
        record = {CHINESE.get(k.strip(), k.strip()): (v or "").strip() for k, v in raw.items() if k}
        try:
            number = int(record.get("row_number") or line - 1)
        except ValueError:
            number = line - 1
        category = _CATEGORIES.get(record.get("category", ""))
        if category is None:
            refused.append(
                LocalRefusal(number, "UNKNOWN_CATEGORY", "category", f"无法识别的参保身份:{record.get('category')}")
            )
            continue
        evidence, bad = _evidence(record.get("evidence", ""))
        if bad:
            refused.append(LocalRefusal(number, "UNKNOWN_EVIDENCE_KIND", "evidence", f"无法识别的材料类型:{bad}"))
            continue
        rows.append(
            pb.RegistrationRow(
                row_number=number,
                resident_id_number=record.get("resident_id_number", ""),
                name=record.get("name", ""),
                phone=record.get("phone", ""),
                region_code=record.get("region_code", ""),
                school_code=record.get("school_code", ""),
                category=common_pb2.Category.Value(f"CATEGORY_{category}"),
                evidence=evidence,
            )
        )
    return rows, refused


def _evidence(text: str) -> tuple[list[pb.Evidence], str]:
    found = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        kind, _, ref = part.partition(":")
        name = _EVIDENCE.get(kind.strip())
        if name is None:
            return [], kind
        found.append(pb.Evidence(kind=pb.EvidenceKind.Value(f"EVIDENCE_KIND_{name}"), document_ref=ref.strip()))
    return found, ""


def chunks(rows: Sequence[pb.RegistrationRow], size: int = MAX_ROWS_PER_CALL) -> Iterator[list[pb.RegistrationRow]]:
    for start in range(0, len(rows), size):
        yield list(rows[start : start + size])


def upload(
    address: str,
    batch_id: str,
    submitter: str,
    rows: Sequence[pb.RegistrationRow],
    progress: Callable[[int, int], None] | None = None,
) -> list[pb.RowResult]:
    """Sends the rows chunk by chunk; the request id of a chunk depends on its content, so uploading
    the same file again replays the stored responses. `progress(rows sent, all rows)` after each chunk."""
    results: list[pb.RowResult] = []
    sent = 0
    with channel(address, options=[("grpc.max_send_message_length", 16 * 1024 * 1024)]) as opened:
        stub = pb_grpc.RegistrationServiceStub(opened)
        for index, chunk in enumerate(chunks(rows)):
            request = pb.BatchRegisterResidentsRequest(batch_id=batch_id, submitter_code=submitter, rows=chunk)
            digest = hashlib.sha256(request.SerializeToString(deterministic=True)).hexdigest()[:24]
            request.request_id = f"batch:{batch_id}:{index}:{digest}"
            results.extend(stub.BatchRegisterResidents(request, timeout=120).results)
            sent += len(chunk)
            if progress is not None:
                progress(sent, len(rows))
    return results


def write_results(out: TextIO, results: Sequence[pb.RowResult], refused: Sequence[LocalRefusal]) -> None:
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    merged = [
        (
            r.row_number,
            pb.RowOutcome.Name(r.outcome).removeprefix("ROW_OUTCOME_"),
            r.enrollment_id,
            r.error.reason,
            r.error.field,
            r.error.message,
        )
        for r in results
    ] + [(r.row_number, "REFUSED", "", r.reason, r.field, r.message) for r in refused]
    for row in sorted(merged, key=lambda r: r[0]):
        writer.writerow(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?")
    parser.add_argument("--template", action="store_true", help="print an empty template and exit")
    parser.add_argument("--batch-id")
    parser.add_argument("--submitter", help="school or village/community committee code")
    parser.add_argument("--address", default="127.0.0.1:50051")
    parser.add_argument("--results", help="write results to this CSV file (default: standard output)")
    args = parser.parse_args()
    if args.template:
        sys.stdout.write(template())
        return
    if not (args.file and args.batch_id and args.submitter):
        parser.error("give the CSV file, --batch-id and --submitter")
    with open(args.file, encoding="utf-8-sig") as source:
        rows, refused = parse(source.read())
    try:
        results = upload(args.address, args.batch_id, args.submitter, rows)
    except grpc.RpcError as error:
        sys.stderr.write(describe_error(error) + "\n")
        sys.exit(1)
    if args.results:
        with open(args.results, "w", encoding="utf-8", newline="") as out:
            write_results(out, results, refused)
    else:
        write_results(sys.stdout, results, refused)
    accepted = sum(1 for r in results if r.outcome != pb.ROW_OUTCOME_REFUSED)
    sys.stderr.write(
        f"{len(results) + len(refused)} rows: {accepted} accepted, {len(results) + len(refused) - accepted} refused\n"
    )


if __name__ == "__main__":
    main()
