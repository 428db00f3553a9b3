"""What every RPC goes through: a correlation id (from `x-correlation-id` metadata, or new), a
structured call log, and the one table from domain errors to AIP-193 statuses.

Applied by wrapping each servicer method once, when the server is built, rather than as a grpc.aio
interceptor: an interceptor runs an extra coroutine on every call, which on the hot read path cost
about 60 µs of a ~400 µs call."""

from __future__ import annotations

import inspect
import time
import types
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import structlog
from google.protobuf.descriptor import ServiceDescriptor
from grpc.aio import ServicerContext

from services.common.errors import Conflict, DomainError
from services.common.grpc_errors import GRPC_CODES, internal_status, to_grpc_status
from services.common.logs import new_correlation_id

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-correlation-id"
Context = ServicerContext[Any, Any]
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]


def instrument(servicer: object, service: ServiceDescriptor, quiet_methods: frozenset[str]) -> object:
    """A stand-in for `servicer` whose implemented methods run under the call policy. Methods it does
    not implement keep the generated base's UNIMPLEMENTED answer. Calls in `quiet_methods` log at debug
    and skip the correlation id echo (the hot read path)."""
    wrapped = types.SimpleNamespace()
    for method in service.methods:
        behavior = getattr(servicer, method.name)
        if inspect.iscoroutinefunction(behavior):
            quiet = method.name in quiet_methods
            behavior = _wrap(behavior, f"/{service.full_name}/{method.name}", quiet)
        setattr(wrapped, method.name, behavior)
    return wrapped


def _wrap(behavior: UnaryBehavior, method: str, quiet: bool) -> UnaryBehavior:
    async def policed(request: Any, context: Context) -> Any:
        correlation_id = _correlation_id(context)
        structlog.contextvars.bind_contextvars(correlation_id=correlation_id, rpc=method)
        if not quiet:
            context.set_trailing_metadata(((CORRELATION_HEADER, correlation_id),))
        started = time.perf_counter()
        try:
            response = await behavior(request, context)
        except DomainError as error:
            log.info(
                "rpc_refused",
                code=GRPC_CODES[error.kind].name,
                reason=error.reason,
                error=error.message,
                duration_ms=_ms(started),
            )
            await _abort(context, to_grpc_status(error), correlation_id)
        except grpc.aio.AbortError:
            raise
        except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
            # The database picked this call as the loser of a race; nothing was written.
            log.warning("rpc_transient_conflict", error=type(exc).__name__, duration_ms=_ms(started))
            conflict = Conflict(
                "TRANSIENT_CONFLICT",
                "a concurrent change got in the way; retry with the same request_id",
                "系统繁忙,请使用相同的请求编号重试",
            )
            await _abort(context, to_grpc_status(conflict), correlation_id)
        except Exception:
            log.exception("rpc_failed", duration_ms=_ms(started))
            await _abort(context, internal_status(correlation_id), correlation_id)
        if not quiet:
            log.info("rpc_completed", duration_ms=_ms(started))
        return response

    return policed


def _correlation_id(context: Context) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == CORRELATION_HEADER and value:
            return str(value)
    return new_correlation_id()


async def _abort(context: Context, status: grpc.Status, correlation_id: str) -> None:
    await context.abort(
        status.code, status.details, trailing_metadata=(*status.trailing_metadata, (CORRELATION_HEADER, correlation_id))
    )


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
