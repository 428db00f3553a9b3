"""Composition root of the enrollment check service (python -m services.enrollment)."""

from __future__ import annotations

import asyncio

from medins.enrollment.v1 import enrollment_check_service_pb2 as pb
from medins.enrollment.v1 import enrollment_check_service_pb2_grpc as pb_grpc

from services.common import lifecycle
from services.common.clock import clock_from_file
from services.common.db import Database
from services.common.grpc_server import GrpcService, serve
from services.common.logs import configure_logging
from services.common.settings import Settings
from services.enrollment.audit import AuditLog
from services.enrollment.grpc_api import EnrollmentCheckServicer


def main() -> None:
    settings = Settings()
    configure_logging("enrollment", settings.log_level)
    clock = clock_from_file(settings.clock_file)
    db = Database(settings.insurance_dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    audit = AuditLog()
    servicer = EnrollmentCheckServicer(db, audit, clock)
    service = GrpcService(
        pb.DESCRIPTOR.services_by_name["EnrollmentCheckService"].full_name,
        lambda server: pb_grpc.add_EnrollmentCheckServiceServicer_to_server(servicer, server),
    )

    async def run(stop: asyncio.Event) -> None:
        audit_stop = asyncio.Event()
        audit_task: asyncio.Task[None] | None = None

        async def start() -> None:
            nonlocal audit_task
            await db.connect()
            audit_task = asyncio.create_task(audit.run(db.pool, audit_stop))

        async def close() -> None:
            audit_stop.set()
            if audit_task is not None:
                await audit_task
            await db.close()

        await serve(
            address=f"{settings.listen_host}:{settings.enrollment_port}",
            services=[service],
            start=start,
            close=close,
            stop=stop,
            grace_seconds=settings.shutdown_grace_seconds,
            quiet_methods=frozenset({"CheckEnrollment", "BatchCheckEnrollments"}),
        )

    lifecycle.run(run)


if __name__ == "__main__":
    main()
