"""Logs never show a full resident ID number or any card number."""

from __future__ import annotations

import io
import json

import structlog

from services.common.logs import configure_logging, mask_personal_numbers, mask_text


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
