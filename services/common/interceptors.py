"""The one server interceptor: correlation id, structured call log, and domain-error mapping."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import grpc
import structlog
from grpc.aio import ServicerContext

from services.common.errors import Conflict, DomainError
from services.common.grpc_errors import GRPC_CODES, internal_status, to_grpc_status
from services.common.logs import new_correlation_id

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "x-correlation-id"
Context = ServicerContext[Any, Any]
UnaryBehavior = Callable[[Any, Context], Awaitable[Any]]


class ServiceInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Binds a correlation id (from `x-correlation-id` metadata, or new), logs each call, and turns
    DomainError into an AIP-193 status. Calls in `quiet_methods` log at debug (hot read paths)."""

    def __init__(self, quiet_methods: frozenset[str] = frozenset()) -> None:
        self._quiet = quiet_methods

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler  # streaming calls (health Watch, reflection) pass through
        method = handler_call_details.method
        quiet = method.rsplit("/", 1)[-1] in self._quiet
        behavior = self._wrap(handler.unary_unary, method, quiet)  # type: ignore[arg-type]
        return grpc.unary_unary_rpc_method_handler(
            behavior,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _wrap(self, behavior: UnaryBehavior, method: str, quiet: bool) -> UnaryBehavior:
        async def intercepted(request: Any, context: Context) -> Any:
            metadata = dict(context.invocation_metadata() or ())
            correlation_id = str(metadata.get(CORRELATION_HEADER) or new_correlation_id())
            structlog.contextvars.bind_contextvars(correlation_id=correlation_id, rpc=method)
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
                status = to_grpc_status(error)
                await context.abort(
                    status.code,
                    status.details,
                    trailing_metadata=(*status.trailing_metadata, (CORRELATION_HEADER, correlation_id)),
                )
            except grpc.aio.AbortError:
                raise
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError) as exc:
                # The database picked this call as the loser of a race; nothing was written.
                log.warning("rpc_transient_conflict", error=type(exc).__name__, duration_ms=_ms(started))
                status = to_grpc_status(
                    Conflict(
                        "TRANSIENT_CONFLICT",
                        "a concurrent change got in the way; retry with the same request_id",
                        "系统繁忙,请使用相同的请求编号重试",
                    )
                )
                await context.abort(
                    status.code,
                    status.details,
                    trailing_metadata=(*status.trailing_metadata, (CORRELATION_HEADER, correlation_id)),
                )
            except Exception:
                log.exception("rpc_failed", duration_ms=_ms(started))
                status = internal_status(correlation_id)
                await context.abort(
                    status.code,
                    status.details,
                    trailing_metadata=(*status.trailing_metadata, (CORRELATION_HEADER, correlation_id)),
                )
            (log.debug if quiet else log.info)("rpc_completed", duration_ms=_ms(started))
            return response

        return intercepted


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
