"""`make image`: the Dockerfile built with podman, from a base given as a build argument (issue 24).

python -m ops.image build [--base IMAGE] [--tag TAG]   builds (the local Debian base first, if asked for
                                                       and missing) and reports the image's size
python -m ops.image size [--tag TAG]                   the size of a built image

No image registry is reachable from this machine kind, so the default base is one built here from
Debian's packages: `mmdebstrap --variant=minbase bookworm` with python3 (3.11), its venv module and CA
certificates (the site's own CAs included, so pip and uv trust a TLS-intercepting proxy), then `podman
import`. Anywhere a registry is reachable, `--base python:3.11-slim-bookworm` (the Dockerfile's
default) builds the same image from the official Python image. Builds run with `--isolation chroot`:
what podman can do where containers cannot be started.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL_BASE = "localhost/medins-base:bookworm"
DEFAULT_TAG = "localhost/medins:latest"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates", "passwd")
# The site's CAs (a TLS-intercepting proxy's among them), copied into the local base.
SITE_CAS = Path("/usr/local/share/ca-certificates")
# What a runtime image does not need from Debian's packages.
EXCLUDED_PATHS = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*")


class ImageError(Exception):
    """Something the operator can act on; printed as one message, without a traceback."""


def _say(message: str) -> None:
    print(f"image: {message}", flush=True)  # noqa: T201 - progress of a long command


def _run(*command: str, timeout: float = 900) -> str:
    if shutil.which(command[0]) is None:
        raise ImageError(f"{command[0]} is not installed (`make image` installs it with apt-get)")
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-25:])
        raise ImageError(f"{' '.join(command[:3])} ... failed (exit {done.returncode}):\n{tail}")
    return done.stdout


def image_exists(tag: str) -> bool:
    return subprocess.run(["podman", "image", "exists", tag], check=False).returncode == 0


def build_local_base(tag: str = LOCAL_BASE) -> None:
    """A Debian bookworm base from Debian's packages, imported into podman (kept once built)."""
    if image_exists(tag):
        _say(f"base {tag} already built")
        return
    started = time.monotonic()
    hooks = []
    if SITE_CAS.is_dir() and any(SITE_CAS.iterdir()):
        hooks = [
            f"--customize-hook=copy-in {SITE_CAS} /usr/local/share/",
            "--customize-hook=chroot $1 update-ca-certificates",
        ]
    with tempfile.TemporaryDirectory(prefix="medins-base-") as scratch:
        tarball = Path(scratch) / "base.tar"
        _say(f"mmdebstrap --variant=minbase bookworm with {', '.join(BASE_PACKAGES)}")
        _run(
            "mmdebstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            *(f"--dpkgopt=path-exclude={path}" for path in EXCLUDED_PATHS),
            *hooks,
            "bookworm",
            str(tarball),
        )
        _run("podman", "import", "--change", 'CMD ["/bin/bash"]', str(tarball), tag)
    _say(f"base {tag} built in {time.monotonic() - started:.0f} s ({size_mb(tag):.0f} MB)")


def build_image(tag: str = DEFAULT_TAG, base: str = LOCAL_BASE) -> float:
    """Builds the Dockerfile from `base`; returns the seconds it took."""
    if base == LOCAL_BASE:
        build_local_base(base)
    started = time.monotonic()
    _say(f"podman build --isolation chroot from {base} as {tag}")
    _run("podman", "build", "--isolation", "chroot", "--build-arg", f"PYTHON_IMAGE={base}", "-t", tag, str(ROOT))
    seconds = time.monotonic() - started
    _say(f"{tag} built in {seconds:.0f} s: {size_mb(tag):.0f} MB")
    return seconds


def size_mb(tag: str) -> float:
    """The image's size as podman reports it (every layer, uncompressed), in MB (10^6 bytes)."""
    return int(_run("podman", "image", "inspect", "--format", "{{.Size}}", tag).strip()) / 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "size"))
    parser.add_argument("--base", default=LOCAL_BASE, help=f"the base image (default {LOCAL_BASE}, built here)")
    parser.add_argument("--tag", default=DEFAULT_TAG)
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            build_image(args.tag, args.base)
        else:
            _say(f"{args.tag}: {size_mb(args.tag):.0f} MB")
    except (ImageError, subprocess.TimeoutExpired) as error:
        sys.exit(f"image: {error}")


if __name__ == "__main__":
    main()
