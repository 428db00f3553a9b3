"""`medins trail`: who did what to one person's records (R35), in both agencies' databases: the caller's
authenticated identity, and beside it what the request said of who acts (a note, never trusted).

medins trail 320402198001017599 [--agency insurance|tax] [--limit 100]
Officers only: under mutual TLS, MEDINS_TLS_IDENTITY must be an `officer:` identity.
"""

from __future__ import annotations

import argparse

import grpc
from medins.trail.v1 import person_trail_service_pb2 as pb
from medins.trail.v1 import person_trail_service_pb2_grpc as pb_grpc

from ops.cli import services
from ops.cli.errors import CallFailed, refusal_of
from ops.cli.show import add_json, emit, table, time_text
from services.common.resident_id import mask

# Each agency's services answer for its own database (protos/medins/trail/v1).
AGENCIES = {"insurance": services.REGISTRATION, "tax": services.COLLECTION}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("id_number", metavar="ID_NUMBER", help="the resident ID number")
    parser.add_argument("--agency", choices=sorted(AGENCIES), help="one agency only (default: both)")
    parser.add_argument("--limit", type=int, default=100, help="entries per agency (default 100, at most 1,000)")
    add_json(parser)


def _entries(agency: str, number: str, limit: int) -> list[pb.PersonTrailEntry]:
    service = AGENCIES[agency]
    address = services.default_address(service)
    with services.open_channel(address) as channel:
        try:
            reply = pb_grpc.PersonTrailServiceStub(channel).ListPersonTrail(
                pb.ListPersonTrailRequest(resident_id_number=number, page_size=min(max(limit, 1), 1000)),
                timeout=services.DEFAULT_TIMEOUT_SECONDS,
            )
        except grpc.RpcError as error:
            raise CallFailed(service, address, refusal_of(error)) from None
    return list(reply.entries)


def run(args: argparse.Namespace) -> int:
    agencies = [args.agency] if args.agency else sorted(AGENCIES)
    found = [(agency, entry) for agency in agencies for entry in _entries(agency, args.id_number, args.limit)]
    found.sort(key=lambda pair: (pair[1].record_time.seconds, pair[1].record_time.nanos))
    answer = pb.ListPersonTrailResponse(entries=[entry for _, entry in found])
    lines = [f"{mask(args.id_number)}: {len(found)} entries"]
    if found:
        lines += table(
            ("TIME", "AGENCY", "CALLER (AUTHENTICATED)", "THE REQUEST SAID", "RPC", "REQUEST ID"),
            [
                (time_text(e.record_time), agency, e.caller, e.caller_note or "-", e.method, e.request_id)
                for agency, e in found
            ],
        )
    emit(args, answer, lines)
    return 0
