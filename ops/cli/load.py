"""`medins load`: runs the load tool, benchmarks/load_tool.py, as a program of its own (`main(prog)`),
with every argument after `load`, --help included. The operator's CLI imports nothing of benchmarks
(which imports ops: the audit, the process list), so the two never import each other; a checkout
without the tool says so, and `medins --help` never depends on it."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ops.cli.errors import CliError

ROOT = Path(__file__).resolve().parents[2]
MODULE = "benchmarks.load_tool"
PROG = "medins load"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Everything after `load` is the load tool's, --help included; it is parsed by the tool's own parser.
    parser.add_argument("load_args", nargs=argparse.REMAINDER, help="the load tool's arguments (medins load --help)")


def command(load_args: list[str]) -> list[str]:
    """The load tool as a program: this interpreter running its `main` under the name `medins load`."""
    return [sys.executable, "-c", f"from {MODULE} import main; main(prog={PROG!r})", *load_args]


def run(args: argparse.Namespace) -> int:
    if not (ROOT / (MODULE.replace(".", "/") + ".py")).exists():
        raise CliError(f"the load tool ({MODULE}) is not in this checkout")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        return subprocess.run(command(list(args.load_args)), env=env, check=False).returncode
    except KeyboardInterrupt:
        return 130  # the tool, in the same process group, was interrupted too and said so
