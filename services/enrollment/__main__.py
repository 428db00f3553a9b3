"""Composition root of the enrollment check service (python -m services.enrollment)."""

from __future__ import annotations

from medins.enrollment.v1 import enrollment_check_service_pb2_grpc as pb_grpc

from services.common.clock import Clock
from services.common.db import Database
from services.common.grpc_server import GrpcService
from services.common.service_main import run_grpc_service
from services.common.settings import Settings
from services.enrollment import access
from services.enrollment.audit import AuditLog
from services.enrollment.grpc_api import EnrollmentCheckServicer

AUDIT = AuditLog()


def build(db: Database, clock: Clock, settings: Settings) -> GrpcService:
    servicer = EnrollmentCheckServicer(db, AUDIT, clock)
    return GrpcService(
        access.SERVICE,
        servicer,
        pb_grpc.add_EnrollmentCheckServiceServicer_to_server,
        access=access.ACCESS,
        max_request_bytes=access.MAX_REQUEST_BYTES,
        priorities=access.ADMISSION_PRIORITIES,
    )


if __name__ == "__main__":
    run_grpc_service(
        name="enrollment",
        port=lambda s: s.enrollment_port,
        dsn=lambda s: s.insurance_dsn,
        build=build,
        quiet_methods=frozenset({"CheckEnrollment", "BatchCheckEnrollments"}),
        background=AUDIT.run,
    )
