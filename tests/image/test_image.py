"""Issue 24 item 1: the image, built by `make image`'s code, runs the system from inside its own file
system against the local PostgreSQL and RabbitMQ: the gRPC services answer health, and one payment
goes from the tax side's intake through the relay and RabbitMQ to coverage on the insurance side
(R14, R17, R21, R31).

Every process runs as the image's non-root user, from its read-only root, with its Python, its locked
dependencies and its generated code (tests/image/launcher.py). `make test-image` runs this (a few
minutes: the build is cached by podman's layers after the first), not `make test`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ops.image import DEFAULT_TAG, build_image, size_mb
from ops.setup import load_demo_data
from services.collection.domain.model import Channel
from tests.e2e import channels
from tests.e2e.clients import CollectionClient, EnrollmentClient, RegistrationClient
from tests.e2e.conftest import START
from tests.e2e.system import PAYMENT_PATH, System
from tests.e2e.test_payments import covered, order_for, registered_person
from tests.image.launcher import ImageConfig, ImageLauncher, image_config, mounted
from tests.infra import Stack, create_stack, drop_stack, remove_leftovers

TAG = os.environ.get("MEDINS_IMAGE_TAG", DEFAULT_TAG)
# The services, both relays and the two consumers: what one payment needs to reach coverage.
PROCESSES = PAYMENT_PATH


@pytest.fixture(scope="module")
def image() -> Iterator[tuple[Path, ImageConfig]]:
    if os.environ.get("MEDINS_IMAGE_PREBUILT") != "1":
        build_image(TAG)
    print(f"image {TAG}: {size_mb(TAG):.0f} MB")  # noqa: T201 - the figure the issue asks for
    with mounted(TAG) as root:
        yield root, image_config(TAG)


@pytest.fixture(scope="module")
async def image_system(
    image: tuple[Path, ImageConfig], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    root, config = image
    scratch = tmp_path_factory.mktemp("image")
    scratch.chmod(0o1777)  # the image's user writes the local gateways' files there
    await remove_leftovers()
    stack = Stack("image")
    await create_stack(stack)
    await load_demo_data(stack.settings(), START.date())
    system = System(stack, scratch, launcher=ImageLauncher(root, config, scratch))
    # R42: the channels' verification keys, where the image's processes see them (their /tmp is the
    # scratch directory) and owned by the image's user, as a mounted Secret is: the run's own copy lives
    # in a private directory of the host's /tmp that a chrooted process can neither see nor read.
    keys = scratch / "channel-keys"
    shutil.copytree(channels.verify_dir(), keys)
    uid, gid = (int(n) for n in config.user.split(":"))
    for path in [keys, *keys.rglob("*")]:
        os.chown(path, uid, gid)
    system.env["MEDINS_CHANNEL_KEYS_DIR"] = str(keys)
    system.set_clock(START)
    (scratch / "clock").chmod(0o644)
    for name in PROCESSES:
        system.start(name)
    try:
        yield system
    finally:
        await system.close_channels()
        codes = system.stop_all()
        await drop_stack(stack)
        assert all(code == 0 for code in codes.values()), f"not stopped cleanly: {codes} (logs in {system.logs})"


def test_the_image_runs_as_a_non_root_user_with_its_own_python_and_generated_code(
    image: tuple[Path, ImageConfig],
) -> None:
    root, config = image
    assert config.user.split(":")[0] not in {"", "0", "root"}
    assert (root / "app/gen/medins/collection/v1/collection_service_pb2.py").is_file()
    assert not (root / "app/tests").exists() and not (root / "opt/venv/bin/uv").exists()
    whoami = subprocess.run(
        [
            "chroot",
            f"--userspec={config.user}",
            str(root),
            "/usr/bin/env",
            "-i",
            *(f"{k}={v}" for k, v in config.env.items()),
            "python",
            "-c",
            "import os, sys, grpc, medins.events.v1.events_pb2; print(os.getuid(), sys.prefix)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert whoami == [config.user.split(":")[0], "/opt/venv"]


async def test_the_images_processes_answer_health_and_one_payment_reaches_coverage(image_system: System) -> None:
    system = image_system
    await system.wait_ready(list(PROCESSES), timeout=120)
    registration = RegistrationClient(system.channel("registration"))
    collection = CollectionClient(system.channel("collection"))
    enrollment = EnrollmentClient(system.channel("enrollment"))
    number, items = await registered_person(registration, collection, name="镜像")
    order = await order_for(collection, number, items)
    reply = await collection.NotifyPayment(
        channels.notification(Channel.WECHAT, channels.wechat(order.order_id, order.total_fen, START))
    )
    assert reply.payment_id and reply.receipt_number
    await covered(enrollment, number, 2024)
    # Every process is the image's: its root is the mounted image and it runs as the image's user.
    launcher = system.launcher
    assert isinstance(launcher, ImageLauncher)
    for name in PROCESSES:
        process = system.processes[name]
        assert process.poll() is None, system.log_text(name)[-2000:]
        assert runs_inside(process.pid, launcher) == (launcher.root.resolve(), launcher.config.user.split(":")[0])


def runs_inside(pid: int, launcher: ImageLauncher) -> tuple[Path, str]:
    """The root directory and the real user id of a running process, as /proc shows them."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    uid = next(line for line in status if line.startswith("Uid:")).split()[1]
    return Path(f"/proc/{pid}/root").resolve(), uid
