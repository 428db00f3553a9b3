"""What the load tool (benchmarks/load_tool.py) plays on: the services' clients, the people it
registered and what has been done to them (each person's item is ordered and paid once), and the two
errors it tells apart."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
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
    # Each refill while the load ran: seconds into the run it began, was registered and was assessed, people.
    refills: list[tuple[float, float, float, int]] = field(default_factory=list)
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


# Connections per service the load's mix spreads its calls over.
CONNECTIONS = 4


class Clients:
    """The three services' clients. `behaving`: an idempotent call refused RESOURCE_EXHAUSTED with
    RetryInfo is sent again after the delay, with jitter (issue 22, ops/cli/retrying.py); the overload
    mode's flood (benchmarks/load_flood.py) is the one client that does not behave. The mix plays a
    population: its calls take `connections` connections per service in turn, so that one connection's
    share of streams (MEDINS_GRPC_STREAMS_PER_CONNECTION) does not hold the whole population's calls."""

    def __init__(
        self,
        where: Addresses,
        security: grpc_channels.ChannelSecurity | None = None,
        *,
        behaving: bool = True,
        connections: int = CONNECTIONS,
    ) -> None:
        interceptors = [AioRetryOnOverload()] if behaving else []
        # grpc shares one connection among channels of equal arguments unless told otherwise.
        own = [("grpc.use_local_subchannel_pool", 1)]
        self.channels = [
            grpc_channels.aio_channel(a, security=security, interceptors=interceptors, options=own)
            for a in (where.registration, where.enrollment, where.collection)
            for _ in range(connections)
        ]
        by_service = [self.channels[k * connections : (k + 1) * connections] for k in range(3)]
        self._registration = itertools.cycle([RegistrationClient(c) for c in by_service[0]])
        self._enrollment = itertools.cycle([EnrollmentClient(c) for c in by_service[1]])
        self._collection = itertools.cycle([CollectionClient(c) for c in by_service[2]])

    @property
    def registration(self) -> RegistrationClient:
        return next(self._registration)

    @property
    def enrollment(self) -> EnrollmentClient:
        return next(self._enrollment)

    @property
    def collection(self) -> CollectionClient:
        return next(self._collection)

    async def ready(self, within_seconds: float = 10.0) -> None:
        names = [name for name in ("registration", "enrollment", "collection") for _ in range(len(self.channels) // 3)]
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
