"""`medins load`: the load tool, benchmarks/load_tool.py (`add_arguments(parser)`, `run(args) -> int`),
imported only when this subcommand runs, so `medins --help` never depends on it."""

from __future__ import annotations

import argparse
import importlib

from ops.cli.errors import CliError

MODULE = "benchmarks.load_tool"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # Everything after `load` is the load tool's, --help included; it is parsed by the tool's own parser.
    parser.add_argument("load_args", nargs=argparse.REMAINDER, help="the load tool's arguments (medins load --help)")


def run(args: argparse.Namespace) -> int:
    try:
        tool = importlib.import_module(MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in (MODULE, MODULE.split(".", 1)[0]):
            raise
        raise CliError(f"the load tool ({MODULE}) is not in this checkout") from None
    parser = argparse.ArgumentParser(prog="medins load", description=tool.__doc__)
    tool.add_arguments(parser)
    status: int = tool.run(parser.parse_args(args.load_args))
    return status
