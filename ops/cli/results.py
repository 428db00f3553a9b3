"""`medins results export`: collection results (缴费结果, R29) for publication, as a CSV and optionally
a PNG chart, through ops/collection_results.py.

    medins results export --year 2027 --region 320400 [--region 341800] --csv r.csv [--chart r.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import grpc

from ops import collection_results
from ops.cli import services
from ops.cli.errors import CallFailed, CliError, refusal_of
from ops.cli.show import note


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{export}")
    export = actions.add_parser("export", help="write the results of regions for a year")
    export.add_argument("--year", type=int, required=True, help="insurance (benefit) year")
    export.add_argument("--region", action="append", required=True, help="region code; repeat for several")
    export.add_argument("--csv", type=Path, required=True, help="CSV file to write")
    export.add_argument("--chart", type=Path, help="PNG chart to write (paid vs unpaid per day)")
    services.add_address(export, services.COLLECTION)


def run(args: argparse.Namespace) -> int:
    address = services.address_of(args, services.COLLECTION)
    try:
        results = collection_results.fetch(address, args.region, args.year)
    except grpc.RpcError as error:
        raise CallFailed(services.COLLECTION, address, refusal_of(error)) from None
    try:
        with open(args.csv, "w", encoding="utf-8", newline="") as out:
            rows = collection_results.write_csv(out, args.year, results)
        if args.chart:
            collection_results.draw_chart(args.chart, args.year, results)
    except OSError as exc:
        raise CliError(f"cannot write: {exc}") from None
    note(
        f"{len(results)} region(s): {rows} CSV rows in {args.csv}" + (f", chart in {args.chart}" if args.chart else "")
    )
    return 0
