"""`medins repair`: offer a person's missed years for repair (缴费修复, R38). Tax assesses one payable item
per year within a second or two; pay them with `medins order create` (alone or with the year itself).

medins repair 320402198001017599 --year 2027
"""

from __future__ import annotations

import argparse

from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import services
from ops.cli.show import add_json, emit, yuan
from services.common.resident_id import mask


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident ID number")
    parser.add_argument("--year", type=int, required=True, help="the benefit year whose wait the repairs shorten")
    services.add_request_id(parser)
    services.add_address(parser, services.REGISTRATION)
    add_json(parser)


def run(args: argparse.Namespace) -> int:
    with services.registration(args) as stub:
        offered = stub.OfferRepairs(
            pb.OfferRepairsRequest(
                request_id=services.request_id(args), resident_id_number=args.id_number, insurance_year=args.year
            ),
            timeout=services.DEFAULT_TIMEOUT_SECONDS,
        )
    count = len(offered.repairs)
    years = "missed year" if count == 1 else "missed years"
    lines = [f"{mask(args.id_number)}: {count} {years} offered for repair before {args.year}"]
    lines += [f"  {r.repaired_year}: {yuan(r.amount_fen)}" for r in offered.repairs]
    emit(args, offered, lines)
    return 0
