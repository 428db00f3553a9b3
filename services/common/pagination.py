"""List pagination per AIP-158: page sizes with a default and a maximum, opaque page tokens bound to
the filters they were issued for (a changed filter with an old token is INVALID_ARGUMENT)."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument

Cursor = tuple[Any, ...]


@dataclass(frozen=True)
class PageRequest:
    size: int
    cursor: Cursor | None
    filters_key: str

    def cursor_of(self, length: int) -> tuple[str, ...] | None:
        """The cursor as `length` strings, or None on the first page; a token of another shape is refused."""
        if self.cursor is None:
            return None
        if len(self.cursor) != length:
            raise InvalidArgument(
                "INVALID_PAGE_TOKEN",
                "page_token is not a token this service issued",
                "分页标记无效",
                field="page_token",
            )
        return tuple(str(c) for c in self.cursor)

    def next_token(self, last_cursor: Cursor, returned: int) -> str:
        """The token for the page after this one, or "" when this page was the last."""
        if returned < self.size:
            return ""
        payload = json.dumps({"c": list(last_cursor), "f": self.filters_key}, separators=(",", ":"))
        return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _filters_key(filters: dict[str, Any]) -> str:
    canonical = json.dumps(filters, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def page_request(
    page_size: int, page_token: str, *, filters: dict[str, Any], default: int, maximum: int
) -> PageRequest:
    """Validates page_size (0 → default, above maximum → maximum) and decodes the token."""
    if page_size < 0:
        raise InvalidArgument(
            "INVALID_PAGE_SIZE", "page_size must not be negative", "每页条数不能为负数", field="page_size"
        )
    size = default if page_size == 0 else min(page_size, maximum)
    key = _filters_key(filters)
    if not page_token:
        return PageRequest(size=size, cursor=None, filters_key=key)
    try:
        padded = page_token + "=" * (-len(page_token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode()))
        cursor, token_key = tuple(decoded["c"]), decoded["f"]
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument(
            "INVALID_PAGE_TOKEN", "page_token is not a token this service issued", "分页标记无效", field="page_token"
        ) from None
    if token_key != key:
        raise InvalidArgument(
            "PAGE_TOKEN_FILTER_CHANGED",
            "page_token was issued for different filters; start again without a token",
            "查询条件已变更,请不带分页标记重新查询",
            field="page_token",
        )
    return PageRequest(size=size, cursor=cursor, filters_key=key)
