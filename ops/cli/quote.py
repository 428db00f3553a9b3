"""`medins quote`: before paying, when coverage would start (R37), how much earlier each missed year worth
repairing would make it, and which repairs would move nothing (R38).

medins quote 320402198001017599 --year 2027 [--paid-on 2027-02-10]
"""

from __future__ import annotations

import argparse

from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import services
from ops.cli.show import add_json, date_text, emit, parse_date, yuan
from services.common.resident_id import mask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident ID number")
    parser.add_argument("--year", type=int, required=True, help="the benefit year to pay for")
    parser.add_argument("--paid-on", type=parse_date, help="the day of the payment, YYYY-MM-DD (default: today)")
    services.add_address(parser, services.REGISTRATION)
    add_json(parser)


def describe(number: str, year: int, quote: pb.QuoteCoverageResponse) -> list[str]:
    if quote.wait_months == 0:
        why = f" (exempt: {quote.exemption})" if quote.exemption else ""
        lines = [f"{mask(number)} {year}: no waiting period{why}, covered from {date_text(quote.coverage_start)}"]
    else:
        lines = [
            f"{mask(number)} {year}: a waiting period of {quote.wait_months} months "
            f"({quote.gap_years} missed years before it), covered from {date_text(quote.coverage_start)}"
        ]
    for repair in quote.repairs:
        lines.append(
            f"  repair {repair.repaired_year} for {yuan(repair.amount_fen)}: covered from "
            f"{date_text(repair.coverage_start_if_repaired)}"
        )
    if quote.idle_repair_years:
        idle = ", ".join(str(y) for y in sorted(quote.idle_repair_years))
        further = " further" if quote.repairs else ""
        lines.append(
            f"  a{further} repair of {idle} would not move the start: {quote.least_wait_months} months is the "
            "shortest wait (R38), so it is not offered"
            if quote.least_wait_months
            else f"  a repair of {idle} would not move the start: there is no wait to shorten, so it is not offered"
        )
    if quote.repairs:
        lines.append(f"  (medins repair {number} --year {year} offers them as payable items)")
    return lines


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        quote = stub.QuoteCoverage(
            pb.QuoteCoverageRequest(resident_id_number=args.id_number, insurance_year=args.year, paid_on=args.paid_on),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
    emit(args, quote, describe(args.id_number, args.year, quote))
    return 0
