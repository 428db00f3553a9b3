"""What the load tool (benchmarks/load_tool.py) plays on: the services' clients, the people it
registered and what has been done to them (each person's item is ordered and paid once), and the two
errors it tells apart."""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from medins.collection.v1 import collection_service_pb2 as col

from benchmarks import load_seed
from ops.cli.retrying import AioRetryOnOverload
from services.common import grpc_channels

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


class UsageError(Exception):
    """A mistake in the command line or the environment: printed as one line, no traceback."""


class WrongAnswer(Exception):
    """A reply that breaks what the operation promises (e.g. a resend answered with another payment)."""


@dataclass(frozen=True)
class Addresses:
    registration: str
    enrollment: str
    collection: str


@dataclass
class Paid:
    person: load_seed.Person
    order_id: str
    notification: col.NotifyPaymentRequest
    payment_id: str
    paid_at: dt.datetime


@dataclass
class World:
    """What the played operations have made so far; each person's item is ordered and paid once."""

    people: list[load_seed.Person]
    unordered: deque[load_seed.Person]
    region: str
    refill: bool
    refilled: int = 0
    refill_errors: Counter[str] = field(default_factory=Counter)
    ordered: deque[tuple[load_seed.Person, str, dt.datetime]] = field(default_factory=deque)
    paid: list[Paid] = field(default_factory=list)
    not_yet_paid_twice: deque[Paid] = field(default_factory=deque)

    def possible(self) -> set[str]:
        found = set()
        if self.unordered:
            found.add("order")
        if self.ordered:
            found.add("pay")
        if self.paid:
            found |= {"resend", "records"}
        if self.not_yet_paid_twice:
            found.add("late_pay")
        return found


class Clients:
    """The three services' clients. `behaving`: an idempotent call refused RESOURCE_EXHAUSTED with
    RetryInfo is sent again after the delay, with jitter (issue 22, ops/cli/retrying.py); the overload
    mode's flood (benchmarks/load_flood.py) is the one client that does not behave."""

    def __init__(
        self, where: Addresses, security: grpc_channels.ChannelSecurity | None = None, *, behaving: bool = True
    ) -> None:
        interceptors = [AioRetryOnOverload()] if behaving else []
        self.channels = [
            grpc_channels.aio_channel(a, security=security, interceptors=interceptors)
            for a in (where.registration, where.enrollment, where.collection)
        ]
        self.registration = RegistrationClient(self.channels[0])
        self.enrollment = EnrollmentClient(self.channels[1])
        self.collection = CollectionClient(self.channels[2])

    async def ready(self, within_seconds: float = 10.0) -> None:
        names = ("registration", "enrollment", "collection")
        for name, channel in zip(names, self.channels, strict=True):
            try:
                await asyncio.wait_for(channel.channel_ready(), within_seconds)
            except TimeoutError as exc:
                raise UsageError(f"the {name} service does not answer; is the system running (`make run`)?") from exc

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close(None)


def say(message: str) -> None:
    print(f"[{dt.datetime.now().astimezone():%H:%M:%S}] {message}", file=sys.stderr, flush=True)  # noqa: T201
