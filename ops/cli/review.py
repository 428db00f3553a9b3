"""`medins review`: the manual review queue (经办审核, R7) of a region; approve or reject with a reason.

medins review list --region 341800
medins review approve ENROLLMENT --officer OFFICER [--note TEXT]
medins review reject ENROLLMENT --officer OFFICER --reason TEXT
"""

from __future__ import annotations

import argparse

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import enrollments, services
from ops.cli.show import add_json, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,approve,reject}")
    listed = actions.add_parser("list", help="registrations waiting for review in a region")
    listed.add_argument("--region", default="", help="region code (default: every region)")
    listed.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    approve = actions.add_parser("approve", help="approve a registration waiting for review")
    approve.add_argument("enrollment_id", metavar="ENROLLMENT")
    approve.add_argument("--officer", required=True, help="the reviewing officer's id (audited)")
    approve.add_argument("--note", default="")
    reject = actions.add_parser("reject", help="reject a registration waiting for review, with a reason")
    reject.add_argument("enrollment_id", metavar="ENROLLMENT")
    reject.add_argument("--officer", required=True, help="the reviewing officer's id (audited)")
    reject.add_argument("--reason", required=True, help="why, told to the applicant")
    for action in (listed, approve, reject):
        services.add_address(action, services.REGISTRATION)
        add_json(action)
    for action in (approve, reject):
        services.add_request_id(action)


def run(args: argparse.Namespace) -> int:
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.registration(args) as stub:
        if args.action == "list":
            response = stub.ListEnrollments(
                pb.ListEnrollmentsRequest(
                    region_code=args.region,
                    state=common_pb2.ENROLLMENT_STATE_PENDING_REVIEW,
                    page_size=min(args.limit, 1000),
                ),
                timeout=timeout,
            )
            lines = enrollments.listing(response.enrollments)
            if response.next_page_token:
                lines.append(f"(more than {len(response.enrollments)}; raise --limit to see more)")
            emit(args, response, lines)
        elif args.action == "approve":
            approved = stub.ApproveRegistration(
                pb.ApproveRegistrationRequest(
                    request_id=services.request_id(args),
                    enrollment_id=args.enrollment_id,
                    officer_id=args.officer,
                    note=args.note,
                ),
                timeout=timeout,
            )
            emit(args, approved, enrollments.summary(approved.enrollment))
        else:
            rejected = stub.RejectRegistration(
                pb.RejectRegistrationRequest(
                    request_id=services.request_id(args),
                    enrollment_id=args.enrollment_id,
                    officer_id=args.officer,
                    reason=args.reason,
                ),
                timeout=timeout,
            )
            emit(args, rejected, enrollments.summary(rejected.enrollment))
    return 0
