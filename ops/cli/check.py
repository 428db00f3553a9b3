"""`medins check`: the enrollment check (R15, R16) for one person and year, or a day of it (R40), stating
a purpose (audited).

medins check 320402198001017599 --year 2027 [--purpose insurance-administration] [--caller OPERATOR]
medins check 320402198001017599 --date 2027-02-10     # WAITING until the day coverage starts (R37)
"""

from __future__ import annotations

import argparse
import getpass

from medins.enrollment.v1 import enrollment_check_service_pb2 as pb

from ops.cli import services
from ops.cli.show import (
    add_json,
    choices,
    emit,
    enum_arg,
    enum_name,
    parse_date,
    range_text,
    time_text,
    value_names,
    yuan,
)
from services.common.resident_id import mask

PURPOSE = enum_arg(pb.CheckPurpose.DESCRIPTOR, "CHECK_PURPOSE_", "purpose")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident ID number asked about")
    parser.add_argument("--year", type=int, default=0, help="the insurance year (default: that of --date, or this one)")
    parser.add_argument("--date", type=parse_date, help="the day to answer for, YYYY-MM-DD (default: today)")
    parser.add_argument(
        "--purpose",
        type=PURPOSE,
        default="insurance-administration",
        help="why you ask (decides what the answer carries; default insurance-administration): "
        + choices(value_names(pb.CheckPurpose.DESCRIPTOR, "CHECK_PURPOSE_")),
    )
    parser.add_argument("--caller", help="the calling system or officer, audited (default: your user name)")
    services.add_address(parser, services.ENROLLMENT)
    add_json(parser)


def describe(response: pb.CheckEnrollmentResponse) -> list[str]:
    r = response.result
    status = enum_name("CHECK_STATUS_", pb.CheckStatus.Name(r.status))
    lines = [f"{mask(r.resident_id_number)} in {r.insurance_year}: {status} (as of {time_text(response.as_of_time)})"]
    if r.region_code:
        lines.append(f"  region {r.region_code} {r.region_name}".rstrip())
    if r.HasField("coverage_start"):
        start = r.coverage_start
        lines.append(f"  in its waiting period: covered from {start.year:04d}-{start.month:02d}-{start.day:02d}")
    lines += [f"  covered {range_text(p)}" for p in r.covered_periods]
    if r.serious_illness_cap_fen:
        lines.append(
            f"  {r.continuous_years} continuous years before; serious-illness cap {yuan(r.serious_illness_cap_fen)}"
        )
    if r.error.reason:
        lines.append(f"  {r.error.reason}: {r.error.message}")
    return lines


def run(args: argparse.Namespace) -> int:
    request = pb.CheckEnrollmentRequest(
        caller_id=args.caller or f"operator-{getpass.getuser()}",
        purpose=pb.CheckPurpose.Value(args.purpose),
        target=pb.CheckTarget(resident_id_number=args.id_number, insurance_year=args.year, on_date=args.date),
    )
    with services.enrollment(args) as stub:
        response = stub.CheckEnrollment(request, timeout=services.DEFAULT_TIMEOUT_SECONDS)
    emit(args, response, describe(response))
    return 0
