"""Exports collection results (缴费结果, R29) for the publication notice (公示): a CSV and a PNG chart.

    python -m ops.collection_results --year 2024 --region 340800 --region 654000 \
        --csv results.csv --chart results.png [--address 127.0.0.1:50053]

The CSV has one row per region and breakdown: the total, each category, each channel and each day of the
window (paid and unpaid at the end of that day). The chart shows paid vs unpaid per region over the
window's days.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import grpc
from matplotlib.figure import Figure
from medins.collection.v1 import collection_service_pb2 as pb
from medins.collection.v1 import collection_service_pb2_grpc as pb_grpc

from ops.grpc_cli import describe_error
from services.common.grpc_channels import channel
from services.common.money import yuan_text

COLUMNS = (
    "region_code",
    "insurance_year",
    "breakdown",
    "key",
    "assessed",
    "paid",
    "subsidised",
    "unpaid",
    "paid_yuan",
    "unpaid_yuan",
)


def fetch(address: str, regions: Sequence[str], year: int) -> dict[str, pb.GetCollectionResultsResponse]:
    with channel(address) as opened:
        stub = pb_grpc.CollectionServiceStub(opened)
        return {
            region: stub.GetCollectionResults(
                pb.GetCollectionResultsRequest(region_code=region, insurance_year=year), timeout=30
            )
            for region in regions
        }


def _day(value: object) -> dt.date:
    return dt.date(value.year, value.month, value.day)  # type: ignore[attr-defined]


def _yuan(fen: int | None) -> str:
    return "" if fen is None else yuan_text(fen)


def csv_rows(year: int, region: str, r: pb.GetCollectionResultsResponse) -> list[list[object]]:
    """The region's rows: total, persons, each category, each channel, each day."""
    rows: list[list[object]] = [
        [
            "total",
            "TOTAL",
            r.assessed_count,
            r.paid_count,
            r.subsidised_count,
            r.unpaid_count,
            _yuan(r.paid_amount_fen),
            _yuan(r.unpaid_amount_fen),
        ],
        [
            "persons",
            "ENROLLED/SETTLED",
            r.enrolled_count,
            r.paid_person_count,
            "",
            r.enrolled_count - r.paid_person_count,
            "",
            "",
        ],
    ]
    rows += [
        [
            "category",
            b.key,
            b.assessed_count,
            b.paid_count,
            b.subsidised_count,
            b.unpaid_count,
            _yuan(b.paid_amount_fen),
            _yuan(b.unpaid_amount_fen),
        ]
        for b in r.by_category
    ]
    rows += [
        ["channel", b.key, "", b.paid_count, b.subsidised_count, "", _yuan(b.paid_amount_fen), ""] for b in r.by_channel
    ]
    rows += [
        ["day", _day(d.date).isoformat(), "", d.paid_count, "", d.unpaid_count, _yuan(d.paid_amount_fen), ""]
        for d in r.daily
    ]
    return [[region, year, *row] for row in rows]


def write_csv(out: TextIO, year: int, results: dict[str, pb.GetCollectionResultsResponse]) -> int:
    """Writes every row; returns how many."""
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    for region, r in results.items():
        rows = csv_rows(year, region, r)
        writer.writerows(rows)
        count += len(rows)
    return count


def draw_chart(path: Path, year: int, results: dict[str, pb.GetCollectionResultsResponse]) -> None:
    """Paid vs unpaid items per region over the window's days (a Figure without pyplot: no display needed)."""
    figure = Figure(figsize=(10, 5), dpi=100)
    axes = figure.subplots()
    labels: list[str] = []
    for region, r in results.items():
        days = [_day(d.date).isoformat() for d in r.daily]
        labels = days if len(days) > len(labels) else labels
        axes.plot(range(len(days)), [d.paid_count for d in r.daily], label=f"{region} paid")
        axes.plot(range(len(days)), [d.unpaid_count for d in r.daily], linestyle="--", label=f"{region} unpaid")
    step = max(1, len(labels) // 10)
    axes.set_xticks(list(range(0, len(labels), step)), labels=labels[::step], rotation=30, ha="right")
    axes.set_title(f"Collection results, insurance year {year}: paid vs unpaid items")
    axes.set_xlabel("day of the collection window (CST)")
    axes.set_ylabel("items")
    axes.legend(loc="best")
    figure.tight_layout()
    figure.savefig(path, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--region", action="append", required=True, help="region code; repeat for several")
    parser.add_argument("--year", type=int, required=True, help="insurance (benefit) year")
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--chart", type=Path, required=True)
    parser.add_argument("--address", default="127.0.0.1:50053")
    args = parser.parse_args()
    try:
        results = fetch(args.address, args.region, args.year)
    except grpc.RpcError as error:
        sys.stderr.write(describe_error(error) + "\n")
        sys.exit(1)
    with open(args.csv, "w", encoding="utf-8", newline="") as out:
        rows = write_csv(out, args.year, results)
    draw_chart(args.chart, args.year, results)
    sys.stderr.write(f"{len(results)} regions: {rows} CSV rows in {args.csv}, chart in {args.chart}\n")


if __name__ == "__main__":
    main()
