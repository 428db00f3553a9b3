"""A stand-in for benchmarks/load_tool.py in tests of `medins load` (tests/unit/test_medins_cli.py): the
same `main(prog)` entry, which says what it was given and exits 7."""

from __future__ import annotations

import argparse
import sys


def main(prog: str = "fake") -> None:
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--rate", type=int, required=True)
    args = parser.parse_args()
    print(f"{prog}: rate {args.rate}")  # noqa: T201 - what the test reads
    sys.exit(7)
