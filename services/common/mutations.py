"""The shape of every mutating RPC: one unit of work, the request id honoured, commit, respond."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from services.common.db import UnitOfWork
from services.common.idempotency import idempotent

U = TypeVar("U", bound=UnitOfWork)
R = TypeVar("R", bound=Message)


async def run_mutation(
    uow_factory: Callable[[], U],
    method: str,
    request: Message,
    response_type: type[R],
    action: Callable[[U], Awaitable[R]],
) -> R:
    """Runs `action` at most once per request id, in one transaction with its idempotency record."""
    async with uow_factory() as uow:
        response = await idempotent(uow.conn, method, request, response_type, lambda: action(uow))
        await uow.commit()
    return response
