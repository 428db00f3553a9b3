"""`medins age-out list`: minors stopped on turning 18 (超龄被停保人员信息查询, R12), by region and year.

medins age-out list --region 340800 --year 2024
"""

from __future__ import annotations

import argparse

from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import enrollments, services
from ops.cli.show import add_json, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list}")
    listed = actions.add_parser("list", help="enrollments stopped on the 18th birthday")
    listed.add_argument("--region", default="", help="region code (default: every region)")
    listed.add_argument("--year", type=int, default=0, help="insurance year the stop fell in (default: any)")
    listed.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    services.add_address(listed, services.REGISTRATION)
    add_json(listed)


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        response = stub.ListAgedOutEnrollments(
            pb.ListAgedOutEnrollmentsRequest(
                region_code=args.region, insurance_year=args.year, page_size=min(args.limit, 1000)
            ),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
    lines = enrollments.listing(response.enrollments)
    if response.next_page_token:
        lines.append(f"(more than {len(response.enrollments)}; raise --limit to see more)")
    emit(args, response, lines)
    return 0
