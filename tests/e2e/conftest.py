"""End-to-end tests run the real processes over gRPC and RabbitMQ, on a stack of their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.common.clock import CST
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.system import System, running_system
from tests.infra import Stack, remove_leftovers

# Inside Anqing's window for benefit year 2024 (1 Sep - 31 Dec 2023).
START = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)


@pytest.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    await remove_leftovers()
    async with running_system(Stack("e2e"), Path(tmp_path_factory.mktemp("e2e")), START, metrics=True) as running:
        yield running
    # Issue 13: the whole session's logs show no personal number in clear. (Imported here: those test
    # modules import this one.)
    from tests.e2e.test_deductions import CARDS  # noqa: PLC0415
    from tests.e2e.test_log_privacy import personal_numbers_in  # noqa: PLC0415

    leaks = personal_numbers_in(running.logs, CARDS)
    assert not leaks, f"personal numbers in clear in the logs of {running.logs}: {leaks}"


@pytest.fixture
def registration(system: System) -> RegistrationClient:
    return RegistrationClient(system.channel("registration"))


@pytest.fixture
def enrollment(system: System) -> EnrollmentClient:
    return EnrollmentClient(system.channel("enrollment"))


@pytest.fixture
def collection(system: System) -> CollectionClient:
    return CollectionClient(system.channel("collection"))


@pytest.fixture(autouse=True)
def clock_at_start(system: System) -> None:
    """Every test starts at START; tests that move time do so explicitly."""
    system.set_clock(START)
