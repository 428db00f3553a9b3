"""PersonTrailService over gRPC (R35): an officer reads who did what to one person's records in this
agency's database. Served beside each agency's service (services/common/service_main.py)."""

from __future__ import annotations

from typing import Any

import grpc
from medins.trail.v1 import person_trail_service_pb2 as pb
from medins.trail.v1 import person_trail_service_pb2_grpc as pb_grpc

from services.common import person_trail
from services.common.authorization import AccessTable, anyone_of
from services.common.db import Database
from services.common.errors import required
from services.common.grpc_server import GrpcService
from services.common.identity import CallerKind
from services.common.pagination import page_request
from services.common.proto_values import timestamp

Context = grpc.aio.ServicerContext[Any, Any]
SERVICE = pb.DESCRIPTOR.services_by_name["PersonTrailService"]
# Who did what to whose record: officers only (R35).
ACCESS = AccessTable(SERVICE.full_name, {"ListPersonTrail": anyone_of(CallerKind.OFFICER)})


class PersonTrailServicer(pb_grpc.PersonTrailServiceServicer):
    def __init__(self, db: Database) -> None:
        self._db = db

    async def ListPersonTrail(self, request: pb.ListPersonTrailRequest, context: Context) -> pb.ListPersonTrailResponse:
        # Not parsed as a valid ID: the trail also names the numbers of refused rows, and they can be asked for.
        number = required(request.resident_id_number, "resident_id_number", "公民身份号码").upper()
        page = page_request(
            request.page_size, request.page_token, filters={"person": number}, default=100, maximum=1000
        )
        after = page.cursor_of(1)
        async with self._db.pool.acquire() as conn:
            found = await person_trail.entries(conn, number, int(after[0]) if after else 0, page.size)
        return pb.ListPersonTrailResponse(
            entries=[
                pb.PersonTrailEntry(
                    caller=e.caller,
                    caller_note=e.caller_note,
                    method=e.method,
                    request_id=e.request_id,
                    correlation_id=e.correlation_id,
                    record_time=timestamp(e.recorded_at),
                )
                for e in found
            ],
            next_page_token=page.next_token((str(found[-1].id),), len(found)) if found else "",
        )


def person_trail_service(db: Database) -> GrpcService:
    return GrpcService(
        SERVICE,
        PersonTrailServicer(db),
        pb_grpc.add_PersonTrailServiceServicer_to_server,
        access=ACCESS,
        max_request_bytes=64 * 1024,
    )
