"""Async client stubs, typed as the async stubs mypy-protobuf declares (they exist only for the type checker)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceAsyncStub as CollectionClient
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import (
        EnrollmentCheckServiceAsyncStub as EnrollmentClient,
    )
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceAsyncStub as RegistrationClient
else:
    from medins.collection.v1.collection_service_pb2_grpc import CollectionServiceStub as CollectionClient
    from medins.enrollment.v1.enrollment_check_service_pb2_grpc import EnrollmentCheckServiceStub as EnrollmentClient
    from medins.registration.v1.registration_service_pb2_grpc import RegistrationServiceStub as RegistrationClient

__all__ = ["CollectionClient", "EnrollmentClient", "RegistrationClient"]
