"""Logs never show a full resident ID number or any card number."""

from __future__ import annotations

import io
import json
import logging

import structlog

from services.common.logs import configure_logging, mask_personal_numbers, new_correlation_id
from services.common.masking import mask_text


def test_resident_ids_keep_only_region_and_last_four() -> None:
    assert mask_text("paid for 34010219900101123X today") == "paid for 340102********123X today"


def test_card_numbers_disappear_entirely() -> None:
    masked = mask_text("card 6222021234567890123 used")
    assert "6222021234567890123" not in masked
    assert "1234567890" not in masked


def test_nested_values_are_masked() -> None:
    masked = mask_personal_numbers(None, "info", {"event": "x", "rows": [{"id": "340102199001011234"}]})
    assert masked["rows"][0]["id"] == "340102********1234"


def test_the_configured_pipeline_masks_what_a_careless_caller_logs(capsys: object) -> None:
    stream = io.StringIO()
    configure_logging("test")
    structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=stream), cache_logger_on_first_use=False)
    structlog.get_logger("t").info("careless", resident="340102199001011234", card="6222021234567890")
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["resident"] == "340102********1234"
    assert "6222021234567890" not in stream.getvalue()


def test_library_logs_become_single_json_lines_with_the_traceback_inside() -> None:
    configure_logging("test")
    stream = io.StringIO()
    logging.getLogger().handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        raise ConnectionError("broker went away")
    except ConnectionError:
        logging.getLogger("aiormq.connection").exception("reader exited for 340102199001011234")
    lines = stream.getvalue().strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["logger"] == "aiormq.connection" and record["service"] == "test"
    assert "ConnectionError: broker went away" in record["exception"]
    assert "340102********1234" in record["event"]


def test_mobile_numbers_keep_only_the_first_three_and_last_four() -> None:
    assert mask_text("sms to 13912345678 sent") == "sms to 139****5678 sent"
    assert mask_text("order 12345678901234") == "order [redacted-number]"  # 14 digits: card-like, not a phone


def test_an_id_number_glued_to_letters_is_still_masked() -> None:
    assert mask_text("id34010219900101123Xabc") == "id340102********123Xabc"


def test_bytes_keys_and_objects_rendered_by_repr_are_masked() -> None:
    class Request:
        def __repr__(self) -> str:
            return "Request(resident_id_number='340102199001011234')"

    masked = mask_personal_numbers(
        None, "info", {"raw": b"payload 340102199001011234", "by_id": {"340102199001011234": 1}, "request": Request()}
    )
    assert masked["raw"] == "payload 340102********1234"
    assert masked["by_id"] == {"340102********1234": 1}
    assert masked["request"] == "Request(resident_id_number='340102********1234')"


def test_generated_correlation_ids_pass_the_masking_unchanged() -> None:
    ids = {new_correlation_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(mask_text(i) == i and len(i) == 32 for i in ids)
