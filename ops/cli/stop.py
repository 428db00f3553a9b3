"""`medins stop`: stops an enrollment (停保, R11) with a reason; tax cancels its unpaid items.

medins stop ENROLLMENT --reason moved-away [--note TEXT]
"""

from __future__ import annotations

import argparse

from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import enrollments, services
from ops.cli.show import add_json, choices, emit, enum_arg, value_names

# AGED_OUT is the system's own reason (R12); an operator stops for one of the others.
_OPERATOR_REASONS = value_names(pb.StopReason.DESCRIPTOR, "STOP_REASON_", exclude=["AGED_OUT"])
REASON = enum_arg(pb.StopReason.DESCRIPTOR, "STOP_REASON_", "stop reason", exclude=["AGED_OUT"])


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("enrollment_id", metavar="ENROLLMENT")
    parser.add_argument("--reason", type=REASON, required=True, help="one of: " + choices(_OPERATOR_REASONS))
    parser.add_argument("--note", default="", help="free text; required with --reason other")
    services.add_address(parser, services.REGISTRATION)
    services.add_request_id(parser)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        response = stub.StopEnrollment(
            pb.StopEnrollmentRequest(
                request_id=services.request_id(args),
                enrollment_id=args.enrollment_id,
                reason=pb.StopReason.Value(args.reason),
                note=args.note,
            ),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
    emit(args, response, enrollments.summary(response.enrollment))
    return 0
