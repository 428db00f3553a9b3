"""End-to-end tests run the real processes over gRPC and RabbitMQ, on a stack of their own."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ops.setup import load_demo_data
from services.common.clock import CST
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.system import System
from tests.infra import Stack, create_stack, drop_stack, remove_leftovers

# Inside Anqing's window for benefit year 2024 (1 Sep - 31 Dec 2023).
START = dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST)


@pytest.fixture(scope="session")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    await remove_leftovers()
    stack = Stack("e2e")
    await create_stack(stack)
    await load_demo_data(stack.settings(), START.date())
    running = System(stack, Path(tmp_path_factory.mktemp("e2e")), metrics=True)
    running.set_clock(START)
    running.start_all()
    try:
        await running.wait_ready()
        yield running
    finally:
        await running.close_channels()
        codes = running.stop_all()
        await drop_stack(stack)
    failed = {name: code for name, code in codes.items() if code != 0}
    assert not failed, f"processes did not stop cleanly on SIGTERM: {failed} (logs in {running.logs})"
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
