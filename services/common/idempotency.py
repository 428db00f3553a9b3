"""Client request ids on mutating calls (AIP-155, R21), scoped to the caller (R35): the key is
(caller, method, request_id), so two callers choosing the same id never meet.

The key row is inserted in the use case's own transaction and the response stored with it, so:
same id + same request → the stored response; same id + different request → REQUEST_ID_REUSED;
a concurrent duplicate blocks on the key until the first commits, then gets its response; a use case
that fails stores nothing, and a retry runs it again. The call's person trail is written with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from google.protobuf.message import Message

from services.common import person_trail
from services.common.db import Connection
from services.common.errors import AlreadyExists, InvalidArgument
from services.common.identity import current_caller
from services.common.logs import current_correlation_id
from services.common.request_keys import RequestKey

MAX_REQUEST_ID_LENGTH = 128
R = TypeVar("R", bound=Message)


def request_fingerprint(request: Message) -> bytes:
    """A hash of the request without its request_id."""
    clone = type(request)()
    clone.CopyFrom(request)
    clone.ClearField("request_id")
    return hashlib.sha256(clone.SerializeToString(deterministic=True)).digest()


def checked_request_id(request_id: str) -> str:
    if not request_id.strip():
        raise InvalidArgument(
            "FIELD_REQUIRED",
            "request_id is required on every mutating call",
            "请求编号(request_id)不能为空",
            field="request_id",
        )
    if len(request_id) > MAX_REQUEST_ID_LENGTH or not request_id.isprintable():
        raise InvalidArgument(
            "INVALID_REQUEST_ID",
            f"request_id must be 1-{MAX_REQUEST_ID_LENGTH} printable characters",
            f"请求编号应为1至{MAX_REQUEST_ID_LENGTH}个可打印字符",
            field="request_id",
        )
    return request_id


def _request_id_of(request: Message) -> str:
    """Every mutating request has a request_id (AIP-155); a message without one is a wiring bug."""
    value = getattr(request, "request_id", None)
    if not isinstance(value, str):
        raise TypeError(f"{type(request).__name__} has no request_id field")
    return value


def request_key(method: str, request: Message) -> RequestKey:
    """The key of `request` for the caller of the call in progress; refuses a missing or malformed id."""
    return RequestKey(
        str(current_caller()), method, checked_request_id(_request_id_of(request)), request_fingerprint(request)
    )


def stored_response(key: RequestKey, fingerprint: bytes, response: bytes | None, response_type: type[R]) -> R:
    """The response stored under `key` for the same request; REQUEST_ID_REUSED for another request."""
    if response is None or fingerprint != key.fingerprint:
        raise AlreadyExists(
            "REQUEST_ID_REUSED",
            f"request_id {key.request_id} was already used for a different {key.method} request",
            f"请求编号{key.request_id}已用于另一笔不同的请求",
            field="request_id",
            metadata={"request_id": key.request_id, "method": key.method},
        )
    return response_type.FromString(response)


async def idempotent(
    conn: Connection,
    method: str,
    request: Message,
    response_type: type[R],
    action: Callable[[], Awaitable[R]],
) -> R:
    """Runs `action` once per (caller, method, request_id) within the use case's transaction; the
    caller is the one the call policy bound (services/common/identity.py)."""
    key = request_key(method, request)
    inserted = await conn.fetchval(
        """INSERT INTO idempotency_keys (caller, method, request_id, fingerprint) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING true""",
        key.caller,
        key.method,
        key.request_id,
        key.fingerprint,
    )
    if not inserted:
        row = await conn.fetchrow(
            """SELECT fingerprint, response FROM idempotency_keys
               WHERE caller = $1 AND method = $2 AND request_id = $3""",
            key.caller,
            key.method,
            key.request_id,
        )
        if row is None:
            return stored_response(key, b"", None, response_type)
        return stored_response(key, row["fingerprint"], row["response"], response_type)
    response = await action()
    await conn.execute(
        "UPDATE idempotency_keys SET response = $4 WHERE caller = $1 AND method = $2 AND request_id = $3",
        key.caller,
        key.method,
        key.request_id,
        response.SerializeToString(deterministic=True),
    )
    named = person_trail.persons_named(request, response)
    await person_trail.record(
        conn,
        key.caller,
        key.method,
        key.request_id,
        current_correlation_id(),
        named,
        caller_note=person_trail.claimed_caller(request),
    )
    return response
