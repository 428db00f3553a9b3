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
import importlib
import sys
from collections.abc import Callable, Sequence

from ops.cli import load
from ops.cli.errors import EXIT_USAGE, CallFailed, CliError

# name, module (add_arguments(parser), run(args) -> int), help; in the order `medins --help` lists them.
# A module is imported only when its command runs: some pull in matplotlib, asyncpg or aio-pika, which
# would make every command (and --help) wait seconds for what it does not use.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("register", "ops.cli.register", "register a resident (R6-R8)"),
    ("review", "ops.cli.review", "the manual review queue: list, approve, reject (R7)"),
    ("stop", "ops.cli.stop", "stop an enrollment (R11)"),
    ("age-out", "ops.cli.age_out", "minors stopped on turning 18 (R12)"),
    ("policies", "ops.cli.policies", "region policies: list, show, set (R2)"),
    ("batch", "ops.cli.batch", "batch registration from the CSV template, with progress (R9)"),
    ("order", "ops.cli.order", "a person's payable items and an order over them (R18, R19)"),
    ("pay", "ops.cli.pay", "pay an order as a channel would: its signed callback (development helper, R44)"),
    ("receipt", "ops.cli.receipt", "the receipt of a completed payment (R24)"),
    ("refunds", "ops.cli.refunds", "refunds: list all, of one state, or the stuck ones (--stuck, R23)"),
    ("family", "ops.cli.family", "family mutual-aid account bindings: bind, list, unbind (R46)"),
    ("certificate", "ops.cli.certificate", "payment certificates (缴费证明): issue, verify (R48)"),
    ("my-enrollment", "ops.cli.my_enrollment", "a resident's own status and covered periods (参保查询, R48)"),
    ("check", "ops.cli.check", "the enrollment check for one person and year, or a day (R15, R40)"),
    ("quote", "ops.cli.quote", "before paying: when coverage would start, and with each repair (R37, R38)"),
    ("repair", "ops.cli.repair", "offer a person's missed years for repair as payable items (R38)"),
    ("person", "ops.cli.person", "a person's timeline across both agencies: why covered or not yet (R37-R39)"),
    ("results", "ops.cli.results", "export collection results as CSV and chart (R29)"),
    ("dlq", "ops.cli.dlq", "dead-letter queues: list, replay"),
    ("audit", "ops.audit", "check the invariants between the two agencies (read-only)"),
    ("trail", "ops.cli.trail", "who did what to one person's records, in both agencies (officers, R35)"),
    ("restore", "ops.cli.restore", "both agencies' databases back to one instant, then converge (issue 24)"),
    ("grpc", "ops.cli.reflection", "any RPC by reflection: list, describe, call"),
    ("load", "ops.cli.load", "the load tool (benchmarks.load_tool); every argument after it is the tool's"),
)
LOAD = "load"


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of the `chosen` command only (the others are listed by name)."""
    parser = argparse.ArgumentParser(
        prog="medins", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, path, text in COMMANDS:
        sub = commands.add_parser(name, help=text, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == chosen:
            module = importlib.import_module(path)
            sub.description = module.__doc__
            module.add_arguments(sub)
            sub.set_defaults(run=module.run)
    return parser


def parse(argv: Sequence[str]) -> argparse.Namespace:
    chosen = next((a for a in argv if not a.startswith("-")), None)
    if chosen == LOAD:
        # Every argument after `load`, --help included, is the load tool's, parsed by its own parser.
        return argparse.Namespace(command=LOAD, run=load.run, load_args=list(argv[argv.index(LOAD) + 1 :]))
    return build_parser(chosen).parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(list(sys.argv[1:] if argv is None else argv))
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
