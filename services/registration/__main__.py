"""Composition root of the registration service (python -m services.registration)."""

from __future__ import annotations

from medins.registration.v1 import registration_service_pb2_grpc as pb_grpc

from services.common.clock import Clock
from services.common.db import Database
from services.common.grpc_server import GrpcService
from services.common.service_main import run_grpc_service
from services.common.settings import Settings
from services.registration import access
from services.registration.grpc_api import RegistrationServicer
from services.registration.unit_of_work import RegistrationUnitOfWork


def build(db: Database, clock: Clock, settings: Settings) -> GrpcService:
    servicer = RegistrationServicer(lambda: RegistrationUnitOfWork(db.pool), clock)
    return GrpcService(
        access.SERVICE,
        servicer,
        pb_grpc.add_RegistrationServiceServicer_to_server,
        access=access.ACCESS,
        max_request_bytes=access.MAX_REQUEST_BYTES,
    )


if __name__ == "__main__":
    run_grpc_service(
        name="registration",
        port=lambda s: s.registration_port,
        dsn=lambda s: s.insurance_dsn,
        build=build,
        person_trail=True,
    )
