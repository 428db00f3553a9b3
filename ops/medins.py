"""`medins`: the operator's command line. Each subcommand lives in its own module; this file only
dispatches, so adding one is a line here and a module beside it.

    medins audit [--outbox-threshold SECONDS] [--allow-dlq]   cross-agency invariants (ops/audit.py)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ops import audit


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="medins", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    audit_parser = commands.add_parser("audit", help="check the invariants between the two agencies (read-only)")
    audit.add_arguments(audit_parser)
    audit_parser.set_defaults(run=audit.run)
    args = parser.parse_args(argv)
    status: int = args.run(args)
    return status


if __name__ == "__main__":
    sys.exit(main())
