"""`medins register`: registers one resident (新参保登记, R6-R8) in a region or a school.

    medins register --id 320402198001017599 --name 张三 --phone 13800138000 --region 320400 \
        --category non-employed --evidence household-register:doc-1
"""

from __future__ import annotations

import argparse

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import enrollments, services
from ops.cli.show import add_json, choices, emit, enum_arg, value_names

CATEGORY = enum_arg(common_pb2.Category.DESCRIPTOR, "CATEGORY_", "category")
_EVIDENCE_NAMES = value_names(pb.EvidenceKind.DESCRIPTOR, "EVIDENCE_KIND_")


def evidence(text: str) -> pb.Evidence:
    """KIND:DOCUMENT_REF, e.g. household-register:doc-1 (argparse type)."""
    kind, sep, ref = text.partition(":")
    key = kind.strip().upper().replace("-", "_")
    if not sep or key not in _EVIDENCE_NAMES or not ref.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not KIND:DOCUMENT_REF with KIND one of: {choices(_EVIDENCE_NAMES)}"
        )
    return pb.Evidence(kind=pb.EvidenceKind.Value(f"EVIDENCE_KIND_{key}"), document_ref=ref.strip())


def exemption(text: str) -> pb.WaitExemption:
    """REASON:DOCUMENT_REF, e.g. RETURNING_GRADUATE:cert-7 (argparse type; R37)."""
    reason, sep, ref = text.partition(":")
    if not sep or not reason.strip() or not ref.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not REASON:DOCUMENT_REF, e.g. RETURNING_GRADUATE:cert-7")
    return pb.WaitExemption(reason=reason.strip().upper().replace("-", "_"), document_ref=ref.strip())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, dest="id_number", help="18-character resident ID number")
    parser.add_argument("--name", required=True)
    parser.add_argument("--phone", default="", help="mainland mobile number")
    place = parser.add_mutually_exclusive_group(required=True)
    place.add_argument("--region", help="region (统筹区) code, e.g. 320400")
    place.add_argument("--school", help="school code, e.g. CZ-S001")
    parser.add_argument(
        "--category",
        type=CATEGORY,
        required=True,
        help="one of: " + choices(value_names(common_pb2.Category.DESCRIPTOR, "CATEGORY_")),
    )
    parser.add_argument(
        "--evidence",
        type=evidence,
        action="append",
        default=[],
        metavar="KIND:REF",
        help="a supporting document, repeatable; KIND one of: " + choices(_EVIDENCE_NAMES),
    )
    parser.add_argument(
        "--wait-exemption",
        type=exemption,
        metavar="REASON:REF",
        help="a reason the region lists for no waiting period, with its document (R37; medins policies show)",
    )
    services.add_address(parser, services.REGISTRATION)
    services.add_request_id(parser)
    add_json(parser)


def build_request(args: argparse.Namespace) -> pb.RegisterResidentRequest:
    request = pb.RegisterResidentRequest(
        request_id=services.request_id(args),
        resident_id_number=args.id_number,
        name=args.name,
        phone=args.phone,
        category=common_pb2.Category.Value(args.category),
        evidence=args.evidence,
        wait_exemption=args.wait_exemption,
    )
    if args.school:
        request.school_code = args.school
    else:
        request.region_code = args.region
    return request


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        response = stub.RegisterResident(build_request(args), timeout=services.DEFAULT_TIMEOUT_SECONDS)
    emit(args, response, enrollments.summary(response.enrollment))
    return 0
