"""structlog JSON logging with a correlation id and masking of personal numbers (ID numbers and phones
masked, card numbers removed) in every line, whatever a caller passes.

Every process calls configure_logging() once in its bootstrap. The correlation id lives in structlog's
contextvars: the gRPC interceptor binds it from `x-correlation-id` metadata, the consumer from the
event envelope, and the outbox copies it into the events it writes.
"""

from __future__ import annotations

import logging
import sys
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog

from services.common.masking import mask_text

_PLAIN = (int, float, bool, type(None))


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {_mask_value(k): _mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask_value(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return mask_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, _PLAIN):
        return value
    # Anything else (a protobuf message, a dataclass, an exception) would be rendered by its repr, which
    # may hold an ID number: it is rendered here, masked.
    return mask_text(str(value))


def mask_personal_numbers(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: last line of defence, after callers already log masked values."""
    return {k: _mask_value(v) for k, v in event_dict.items()}


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stderr, with service name, ISO timestamp, level and bound context. Libraries that
    log through the standard library (aio-pika, asyncpg) come out as the same JSON lines, their
    tracebacks folded into an `exception` field."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.TimeStamper(fmt="iso", utc=False),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                mask_personal_numbers,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=False),
            structlog.processors.format_exc_info,
            mask_personal_numbers,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)


# A generated correlation id carries no digits: in a hex id a run of digits looks like a card, phone or
# ID number to the masking, which mangled about one id in twenty-five and broke tracing by it.
_NO_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def new_correlation_id() -> str:
    """128 random bits in 32 characters a-p."""
    return uuid.uuid4().hex.translate(_NO_DIGITS)


def current_correlation_id() -> str:
    """The correlation id bound in this context, or a new one."""
    bound = structlog.contextvars.get_contextvars().get("correlation_id")
    return bound if isinstance(bound, str) and bound else new_correlation_id()


def bind_correlation_id(correlation_id: str) -> None:
    structlog.contextvars.bind_contextvars(correlation_id=correlation_id)
