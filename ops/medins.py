"""`medins`: the operator's command line. It talks to the services over gRPC (channels from
services/common/grpc_channels.py; addresses from the MEDINS_* settings unless --address is given). Each
subcommand lives in its own module under ops/cli/ (ops.audit for audit); this file only dispatches and
turns failures into one or two readable lines: exit 1 a refused call, 2 a usage mistake, 3 a service or
the broker that cannot be reached.

The demo path after `make run` (README.md): register -> order create -> pay -> check -> receipt.
`medins COMMAND --help` says what each needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from types import ModuleType

from ops import audit
from ops.cli import (
    age_out,
    batch,
    check,
    dlq,
    load,
    order,
    pay,
    policies,
    receipt,
    reflection,
    register,
    results,
    review,
    stop,
)
from ops.cli.errors import EXIT_USAGE, CallFailed, CliError

# name, module (add_arguments(parser), run(args) -> int), help; in the order `medins --help` lists them.
COMMANDS: tuple[tuple[str, ModuleType, str], ...] = (
    ("register", register, "register a resident (R6-R8)"),
    ("review", review, "the manual review queue: list, approve, reject (R7)"),
    ("stop", stop, "stop an enrollment (R11)"),
    ("age-out", age_out, "minors stopped on turning 18 (R12)"),
    ("policies", policies, "region policies: list, show, set (R2)"),
    ("batch", batch, "batch registration from the CSV template, with progress (R9)"),
    ("order", order, "a person's payable items and an order over them (R18, R19)"),
    ("pay", pay, "pay an order as a channel would: a signed notification (development helper, R20)"),
    ("receipt", receipt, "the receipt of a completed payment (R24)"),
    ("check", check, "the enrollment check for one person and year (R15)"),
    ("results", results, "export collection results as CSV and chart (R29)"),
    ("dlq", dlq, "dead-letter queues: list, replay"),
    ("audit", audit, "check the invariants between the two agencies (read-only)"),
    ("grpc", reflection, "any RPC by reflection: list, describe, call"),
    ("load", load, "the load tool (benchmarks.load_tool)"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medins", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module, text in COMMANDS:
        # `load` hands every argument, --help included, to the load tool's own parser.
        sub = commands.add_parser(
            name,
            help=text,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
            add_help=module is not load,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    prefix = f"medins {args.command}"
    try:
        return int(run(args))
    except CallFailed as failure:
        lines = failure.lines()
        print(f"{prefix}: {lines[0]}", file=sys.stderr)
        for line in lines[1:]:
            print(line, file=sys.stderr)
        return failure.status
    except CliError as error:
        print(f"{prefix}: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print(f"{prefix}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_:
        # load_settings() ends on invalid settings with its message; keep it one line and non-zero.
        if isinstance(exit_.code, str):
            print(f"{prefix}: {exit_.code}", file=sys.stderr)
            return EXIT_USAGE
        raise


if __name__ == "__main__":
    sys.exit(main())
