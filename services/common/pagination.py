"""List pagination per AIP-158, one helper for every list RPC: page sizes with a default and a maximum,
and opaque page tokens authenticated with an HMAC under the server's key and bound to the method and
the filters they were issued for, and expiring (R34).

A token is `base64url(payload) "." base64url(mac)`. Its size is bounded before anything is decoded, and
its payload is parsed only after the MAC checks out, so a garbage, tampered or foreign token never
reaches a JSON parser or a query: it is INVALID_ARGUMENT `INVALID_PAGE_TOKEN`. A token of the same
method used with other filters is `PAGE_TOKEN_FILTER_CHANGED`; an expired one is `INVALID_PAGE_TOKEN`
with metadata why=expired.

The call policy binds the signer and the RPC's name for each call (`issuing_for`), so servicers call
`page_request` without knowing the key.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import contextvars
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument

Cursor = tuple[Any, ...]
# A token we issue is well under this; anything longer is refused before it is decoded.
MAX_TOKEN_CHARS = 1024
_MAC_BYTES = 16


@dataclass(frozen=True)
class PageTokens:
    """Signs and verifies page tokens with one server key; `now` is the service's clock."""

    key: bytes
    now: Callable[[], dt.datetime]
    ttl: dt.timedelta

    def sign(self, method: str, payload: bytes) -> str:
        mac = hmac.new(self.key, method.encode() + b"\n" + payload, hashlib.sha256).digest()[:_MAC_BYTES]
        return f"{_b64(payload)}.{_b64(mac)}"

    def open(self, method: str, token: str) -> dict[str, Any]:
        """The payload of a token this service issued for `method`; INVALID_PAGE_TOKEN otherwise."""
        if len(token) > MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
            raise _invalid_token()
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
        except (binascii.Error, ValueError):
            raise _invalid_token() from None
        expected = hmac.new(self.key, method.encode() + b"\n" + payload, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(expected, mac):
            raise _invalid_token()
        decoded: dict[str, Any] = json.loads(payload)  # ours: the MAC says so
        return decoded


_CALL: contextvars.ContextVar[tuple[PageTokens, str]] = contextvars.ContextVar("page_tokens")


@contextlib.contextmanager
def issuing_for(tokens: PageTokens, method: str) -> Iterator[None]:
    """Within this block, page_request signs and checks tokens for `method` with `tokens`."""
    reset = _CALL.set((tokens, method))
    try:
        yield
    finally:
        _CALL.reset(reset)


@dataclass(frozen=True)
class PageRequest:
    size: int
    cursor: Cursor | None
    filters_key: str
    tokens: PageTokens
    method: str

    def cursor_of(self, length: int) -> tuple[str, ...] | None:
        """The cursor as `length` strings, or None on the first page; a token of another shape is refused."""
        if self.cursor is None:
            return None
        if len(self.cursor) != length:
            raise _invalid_token()
        return tuple(str(c) for c in self.cursor)

    def next_token(self, last_cursor: Cursor, returned: int) -> str:
        """The token for the page after this one, or "" when this page was the last."""
        if returned < self.size:
            return ""
        expires = int((self.tokens.now() + self.tokens.ttl).timestamp())
        payload = json.dumps({"c": list(last_cursor), "f": self.filters_key, "e": expires}, separators=(",", ":"))
        return self.tokens.sign(self.method, payload.encode())


def _filters_key(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def page_request(
    page_size: int, page_token: str, *, filters: dict[str, Any], default: int, maximum: int
) -> PageRequest:
    """Validates page_size (0 → default, above maximum → maximum) and opens the token."""
    tokens, method = _CALL.get()
    if page_size < 0:
        raise InvalidArgument(
            "INVALID_PAGE_SIZE", "page_size must not be negative", "每页条数不能为负数", field="page_size"
        )
    size = default if page_size == 0 else min(page_size, maximum)
    key = _filters_key(filters)
    if not page_token:
        return PageRequest(size=size, cursor=None, filters_key=key, tokens=tokens, method=method)
    payload = tokens.open(method, page_token)
    if payload.get("f") != key:
        raise InvalidArgument(
            "PAGE_TOKEN_FILTER_CHANGED",
            "page_token was issued for different filters; start again without a token",
            "查询条件已变更,请不带分页标记重新查询",
            field="page_token",
        )
    if int(payload.get("e", 0)) < tokens.now().timestamp():
        raise InvalidArgument(
            "INVALID_PAGE_TOKEN",
            "page_token has expired; start again without a token",
            "分页标记已过期,请不带分页标记重新查询",
            field="page_token",
            metadata={"why": "expired"},
        )
    return PageRequest(size=size, cursor=tuple(payload["c"]), filters_key=key, tokens=tokens, method=method)


def _invalid_token() -> InvalidArgument:
    return InvalidArgument(
        "INVALID_PAGE_TOKEN", "page_token is not a token this service issued", "分页标记无效", field="page_token"
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode())
