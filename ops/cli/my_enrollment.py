"""`medins my-enrollment`: a resident's own look-up (参保查询, R48), as a channel app or e-tax makes it for
the resident it authenticated: status and covered periods for each benefit year asked about.

medins my-enrollment 320402198001017599 [--year 2024 --year 2025]    # default: this year and the next
"""

from __future__ import annotations

import argparse

from medins.enrollment.v1 import enrollment_check_service_pb2 as pb

from ops.cli import services
from ops.cli.certificate import year
from ops.cli.check import describe
from ops.cli.show import add_json, emit


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident's own ID number")
    parser.add_argument(
        "--year", type=year, action="append", default=[], help="a benefit year (repeat; default this and the next)"
    )
    services.add_address(parser, services.ENROLLMENT)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    with services.enrollment(args) as stub:
        response = stub.GetMyEnrollment(
            pb.GetMyEnrollmentRequest(resident_id_number=args.id_number, insurance_years=args.year),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
    lines = [
        line
        for result in response.results
        for line in describe(pb.CheckEnrollmentResponse(result=result, as_of_time=response.as_of_time))
    ]
    emit(args, response, lines)
    return 0
