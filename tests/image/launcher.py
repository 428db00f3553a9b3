"""Processes run from inside a built image's file system, as its container would run them (issue 24).

`podman run` cannot start a container on this machine kind, so the image is mounted (`podman image
mount`, read-only) and each process is started with `chroot` into it, as the image's user, in its
working directory, with the image's environment (PATH, PYTHONPATH ...) plus the MEDINS_* and OTEL_*
settings of the test. Each process gets a mount namespace of its own (`unshare --mount`) in which /dev
and /proc are the host's and /tmp is the test's scratch directory (Kubernetes' emptyDir on /tmp): the
root file system stays read-only, as `readOnlyRootFilesystem` has it. The network is the host's, so the
image's processes reach the local PostgreSQL and RabbitMQ on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# $1 root, $2 the scratch directory, $3 user:group, $4 working directory, then the command.
_ENTER = """set -e
root=$1 scratch=$2 user=$3 workdir=$4; shift 4
mount --rbind /dev "$root/dev"
mount --rbind /proc "$root/proc"
mount --bind "$scratch" "$root/tmp"
exec chroot --userspec="$user" "$root" /usr/bin/env -C "$workdir" "$@"
"""
IN_IMAGE_TMP = "/tmp"


@dataclass(frozen=True)
class ImageConfig:
    """What the image says about how its processes run."""

    env: dict[str, str]
    user: str
    workdir: str
    entrypoint: tuple[str, ...]


def image_config(tag: str) -> ImageConfig:
    config = json.loads(
        subprocess.run(
            ["podman", "image", "inspect", "--format", "{{json .Config}}", tag],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    env = dict(item.split("=", 1) for item in config.get("Env") or [])
    return ImageConfig(env, config.get("User") or "0:0", config.get("WorkingDir") or "/", tuple(config["Entrypoint"]))


@contextmanager
def mounted(tag: str) -> Iterator[Path]:
    """The image's file system, mounted read-only for as long as the block runs."""
    root = subprocess.run(["podman", "image", "mount", tag], check=True, capture_output=True, text=True).stdout
    try:
        yield Path(root.strip())
    finally:
        subprocess.run(["podman", "image", "unmount", tag], check=False, capture_output=True)


@dataclass(frozen=True)
class ImageLauncher:
    """tests/e2e/system.py's Launcher for processes inside the mounted image."""

    root: Path
    config: ImageConfig
    scratch: Path

    def command(self, args: Sequence[str]) -> list[str]:
        # The image's entrypoint is `python -m`; the process specs of ops/processes.py say "-m MODULE".
        assert args[0] == "-m" and self.config.entrypoint[-1] == "-m", (args, self.config.entrypoint)
        return [
            "unshare",
            "--mount",
            "--",
            "sh",
            "-c",
            _ENTER,
            "medins-image",
            str(self.root),
            str(self.scratch),
            self.config.user,
            self.config.workdir,
            *self.config.entrypoint,
            *args[1:],
        ]

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """The image's environment, plus the test's settings; paths into the scratch directory are
        rewritten to where the process sees it."""
        settings = {
            key: value.replace(str(self.scratch), IN_IMAGE_TMP)
            for key, value in env.items()
            if key.startswith(("MEDINS_", "OTEL_"))
        }
        return {**self.config.env, **settings}
