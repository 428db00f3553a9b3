"""`medins certificate`: payment certificates (缴费证明, R48). `issue` lists every paid benefit year asked for
with its amount and receipt numbers under a certificate number; `verify` answers what a number certified.

medins certificate issue 320402198001017599 --year 2023 --year 2024
medins certificate verify JFZM20231120ABCDEFGHJKMNPQRS
"""

from __future__ import annotations

import argparse

from medins.collection.v1 import collection_service_pb2 as pb
from medins.common.v1 import common_pb2

from ops.cli import services
from ops.cli.show import add_json, emit, enum_name, time_text, yuan
from services.common.resident_id import mask


def year(text: str) -> int:
    if not text.isdigit() or len(text) != 4:
        raise argparse.ArgumentTypeError(f"{text!r} is not a benefit year such as 2024")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{issue,verify}")
    issue = actions.add_parser("issue", help="a certificate of a resident's payments for chosen benefit years")
    issue.add_argument("resident", metavar="ID_NUMBER", help="the resident's ID number")
    issue.add_argument(
        "--year", type=year, action="append", required=True, help="a benefit year to certify (repeat for more)"
    )
    verify = actions.add_parser("verify", help="what a certificate number certified")
    verify.add_argument("number", metavar="CERTIFICATE", help="the certificate number")
    for action in (issue, verify):
        services.add_address(action, services.COLLECTION)
        add_json(action)
    services.add_request_id(issue)


def certificate_lines(certificate: pb.PaymentCertificate) -> list[str]:
    lines = [
        f"payment certificate {certificate.certificate_number} (缴费证明)",
        f"  {certificate.resident_name} {mask(certificate.resident_id_number)}, "
        f"issued {time_text(certificate.issue_time)} by {certificate.issued_by}",
    ]
    for paid in certificate.years:
        receipts = ", ".join(paid.receipt_numbers) or "settled by subsidy"
        lines.append(f"  {paid.insurance_year}: {yuan(paid.amount_fen)} (receipts {receipts})")
        for fee in paid.fees:
            kind = enum_name("FEE_TYPE_", common_pb2.FeeType.Name(fee.fee_type)).lower()
            refunded = " - refunded since issue" if fee.reversed_since_issue else ""
            lines.append(f"    {kind} {yuan(fee.amount_fen)} paid {time_text(fee.paid_time)}{refunded}")
    if certificate.unpaid_years:
        lines.append(f"  not paid: {', '.join(map(str, certificate.unpaid_years))}")
    lines.append(f"  total {yuan(certificate.total_fen)}")
    return lines


def run(args: argparse.Namespace) -> int:
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.collection(args) as stub:
        if args.action == "issue":
            issued = stub.IssuePaymentCertificate(
                pb.IssuePaymentCertificateRequest(
                    request_id=services.request_id(args), resident_id_number=args.resident, insurance_years=args.year
                ),
                timeout=timeout,
            )
            emit(args, issued, certificate_lines(issued.certificate))
        else:
            verified = stub.VerifyPaymentCertificate(
                pb.VerifyPaymentCertificateRequest(certificate_number=args.number), timeout=timeout
            )
            emit(args, verified, certificate_lines(verified.certificate))
    return 0
