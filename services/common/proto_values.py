"""Conversions between protobuf values and domain values, with INVALID_ARGUMENT for bad input."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from medins.common.v1 import common_pb2

from services.common.clock import CST
from services.common.errors import InvalidArgument

E = TypeVar("E", bound=enum.StrEnum)


def enum_from_proto(
    domain: type[E], proto: Any, value: int, *, prefix: str, field: str, required: bool = True
) -> E | None:
    """Maps CATEGORY_MINOR → Category.MINOR; unspecified or unknown values are INVALID_ARGUMENT."""
    if value == 0:
        if not required:
            return None
        raise InvalidArgument(
            "FIELD_REQUIRED", f"{field} must be specified", f"{field}不能为空", field=field, metadata={"field": field}
        )
    try:
        return domain(proto.Name(value).removeprefix(prefix))
    except ValueError:
        raise InvalidArgument(
            "UNKNOWN_ENUM_VALUE",
            f"{field} has unknown value {value}",
            f"{field}的取值{value}无法识别",
            field=field,
            metadata={"field": field, "value": value},
        ) from None


def enum_to_proto(proto: Any, value: enum.StrEnum | None, *, prefix: str) -> Any:
    """Category.MINOR → CATEGORY_MINOR (typed Any: each generated enum has its own ValueType)."""
    return 0 if value is None else proto.Value(prefix + value.value)


def date_to_proto(day: dt.date) -> common_pb2.Date:
    return common_pb2.Date(year=day.year, month=day.month, day=day.day)


def date_from_proto(value: common_pb2.Date, *, field: str) -> dt.date:
    try:
        return dt.date(value.year, value.month, value.day)
    except ValueError:
        raise InvalidArgument(
            "INVALID_DATE",
            f"{field} is not a calendar date: {value.year}-{value.month}-{value.day}",
            f"{field}不是有效日期",
            field=field,
            metadata={"field": field},
        ) from None


def range_to_proto(start: dt.date, end: dt.date) -> common_pb2.DateRange:
    return common_pb2.DateRange(start=date_to_proto(start), end=date_to_proto(end))


def range_from_proto(value: common_pb2.DateRange, *, field: str) -> tuple[dt.date, dt.date]:
    start = date_from_proto(value.start, field=f"{field}.start")
    end = date_from_proto(value.end, field=f"{field}.end")
    if end < start:
        raise InvalidArgument(
            "INVALID_DATE_RANGE", f"{field} ends before it starts", f"{field}结束日期早于开始日期", field=field
        )
    return start, end


def timestamp(instant: dt.datetime | None) -> Timestamp | None:
    if instant is None:
        return None
    value = Timestamp()
    value.FromDatetime(instant)
    return value


def from_timestamp(value: Timestamp) -> dt.datetime:
    return value.ToDatetime(tzinfo=dt.UTC).astimezone(CST)


def channel_openings_to_proto(openings: Iterable[tuple[str, dt.date]]) -> list[common_pb2.ChannelOpening]:
    """R49: (channel name as the tax side names it, first day) pairs as protos, in order."""
    return [
        common_pb2.ChannelOpening(
            channel=common_pb2.PaymentChannel.Value(f"PAYMENT_CHANNEL_{name}"), opens_on=date_to_proto(day)
        )
        for name, day in sorted(openings)
    ]


def channel_openings_from_proto(
    openings: Iterable[common_pb2.ChannelOpening], *, field: str
) -> tuple[tuple[str, dt.date], ...]:
    """R49: the protos back as sorted (channel name, first day) pairs; a channel left unset is refused."""
    found = []
    for i, opening in enumerate(openings):
        if opening.channel == common_pb2.PAYMENT_CHANNEL_UNSPECIFIED:
            raise InvalidArgument(
                "FIELD_REQUIRED", f"{field}[{i}].channel is required", "请选择缴费渠道", field=f"{field}[{i}].channel"
            )
        name = common_pb2.PaymentChannel.Name(opening.channel).removeprefix("PAYMENT_CHANNEL_")
        found.append((name, date_from_proto(opening.opens_on, field=f"{field}[{i}].opens_on")))
    return tuple(sorted(found))
