"""AIP-193: domain errors become a canonical code with ErrorInfo, BadRequest and a zh-CN message."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from services.common.errors import Conflict, FailedPrecondition, InvalidArgument
from services.common.grpc_errors import GRPC_CODES, to_status_proto


def test_invalid_argument_carries_reason_metadata_field_and_chinese_message() -> None:
    error = InvalidArgument(
        "INVALID_PHONE", "phone is bad", "手机号码格式不正确", field="phone", metadata={"field": "phone"}
    )
    status = to_status_proto(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info, bad, text = (
        error_details_pb2.ErrorInfo(),
        error_details_pb2.BadRequest(),
        error_details_pb2.LocalizedMessage(),
    )
    assert status.details[0].Unpack(info) and info.reason == "INVALID_PHONE" and info.metadata["field"] == "phone"
    assert status.details[1].Unpack(bad) and bad.field_violations[0].field == "phone"
    assert status.details[2].Unpack(text) and text.locale == "zh-CN" and text.message == "手机号码格式不正确"


def test_an_error_without_a_field_has_no_bad_request() -> None:
    status = to_status_proto(FailedPrecondition("DUPLICATE_ENROLLMENT", "dup", "重复参保"))
    assert len(status.details) == 2


def test_conflicts_are_aborted() -> None:
    assert GRPC_CODES[Conflict.kind] is grpc.StatusCode.ABORTED


def test_an_error_never_echoes_more_than_a_short_masked_prefix() -> None:
    huge = "34080220051125001X " + "x" * 4_000_000
    error = InvalidArgument(
        "INVALID_RESIDENT_ID", f"{huge} is not an ID", f"{huge}无效", field="x", metadata={"value": huge, huge: "k"}
    )
    status = to_status_proto(error)
    assert len(status.SerializeToString()) < 2_000
    assert "34080220051125001X" not in str(status) and "340802" in status.message
