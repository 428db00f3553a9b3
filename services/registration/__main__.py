"""Composition root of the registration service (python -m services.registration)."""

from __future__ import annotations

import asyncio

from medins.registration.v1 import registration_service_pb2 as pb
from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from services.common import lifecycle
from services.common.clock import clock_from_file
from services.common.db import Database
from services.common.grpc_server import GrpcService, serve
from services.common.logs import configure_logging
from services.common.settings import Settings
from services.registration.grpc_api import RegistrationServicer
from services.registration.unit_of_work import RegistrationUnitOfWork


def main() -> None:
    settings = Settings()
    configure_logging("registration", settings.log_level)
    clock = clock_from_file(settings.clock_file)
    db = Database(settings.insurance_dsn, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
    servicer = RegistrationServicer(lambda: RegistrationUnitOfWork(db.pool), clock)
    service = GrpcService(
        pb.DESCRIPTOR.services_by_name["RegistrationService"].full_name,
        lambda server: pb_grpc.add_RegistrationServiceServicer_to_server(servicer, server),
    )

    async def run(stop: asyncio.Event) -> None:
        await serve(
            address=f"{settings.listen_host}:{settings.registration_port}",
            services=[service],
            start=db.connect,
            close=db.close,
            stop=stop,
            grace_seconds=settings.shutdown_grace_seconds,
        )

    lifecycle.run(run)


if __name__ == "__main__":
    main()
