"""How answers are shown: short human lines by default, the response as JSON with --json (for scripts).
Money is shown in yuan from integer fen (R3), times in China Standard Time (R4), enums without their
prefix."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterable, Sequence

from google.protobuf import json_format
from google.protobuf.descriptor import EnumDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from medins.common.v1 import common_pb2

from services.common.clock import CST
from services.common.money import yuan_text


def add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the service's answer as JSON")


def emit(args: argparse.Namespace, message: Message, lines: Iterable[str]) -> None:
    """Prints the answer: `lines` for a person, or the message as JSON with --json."""
    if getattr(args, "json", False):
        print(json_format.MessageToJson(message, ensure_ascii=False, preserving_proto_field_name=True))
    else:
        for line in lines:
            print(line)


def note(text: str) -> None:
    """A remark about the command's progress, on standard error so standard output stays the answer."""
    print(text, file=sys.stderr)


def yuan(fen: int) -> str:
    return f"{yuan_text(fen)} yuan"


def enum_name(prefix: str, name: str) -> str:
    """PAYMENT_CHANNEL_WECHAT -> WECHAT."""
    return name.removeprefix(prefix)


def date_text(value: common_pb2.Date) -> str:
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}" if value.year else "-"


def range_text(value: common_pb2.DateRange) -> str:
    return f"{date_text(value.start)}..{date_text(value.end)}"


def time_text(value: Timestamp) -> str:
    if not value.seconds and not value.nanos:
        return "-"
    return value.ToDatetime(tzinfo=dt.UTC).astimezone(CST).strftime("%Y-%m-%d %H:%M:%S CST")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns as wide as their widest cell."""
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]


def parse_date(text: str) -> common_pb2.Date:
    """YYYY-MM-DD as a proto Date (argparse type: a mistake is a clean usage error)."""
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date YYYY-MM-DD") from None
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def parse_range(text: str) -> common_pb2.DateRange:
    """START..END (inclusive dates) as a proto DateRange."""
    start, sep, end = text.partition("..")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not a range START..END, e.g. 2026-09-01..2026-12-31")
    return common_pb2.DateRange(start=parse_date(start), end=parse_date(end))


def value_names(enum: EnumDescriptor, prefix: str, exclude: Iterable[str] = ()) -> list[str]:
    """An enum's value names without the prefix and without UNSPECIFIED (or the excluded ones)."""
    skipped = {"UNSPECIFIED", *exclude}
    return [n for n in (v.name.removeprefix(prefix) for v in enum.values) if n not in skipped]


def choices(names: Iterable[str]) -> str:
    """Value names as an operator types them: NON_EMPLOYED, ELDERLY -> "non-employed, elderly"."""
    return ", ".join(n.lower().replace("_", "-") for n in names)


def enum_arg(enum: EnumDescriptor, prefix: str, what: str, exclude: Iterable[str] = ()) -> Callable[[str], str]:
    """An argparse type for an enum's values written in lower case with hyphens (non-employed), mapped
    back to the full value name; a mistyped value is a usage error that lists the choices."""
    names = value_names(enum, prefix, exclude)

    def convert(text: str) -> str:
        key = text.strip().upper().replace("-", "_")
        if key not in names:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r}; one of: {choices(names)}")
        return prefix + key

    convert.__name__ = what
    return convert
