"""AIP-158 page sizes and tokens: one helper, tokens signed with the server's key and bound to the
method and the filters (R34)."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator

import pytest

from services.common.clock import CST, FixedClock
from services.common.errors import InvalidArgument
from services.common.pagination import MAX_TOKEN_CHARS, PageTokens, issuing_for, page_request

CLOCK = FixedClock(dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST))
TOKENS = PageTokens(b"k" * 32, CLOCK.now, dt.timedelta(hours=1))
METHOD = "/medins.registration.v1.RegistrationService/ListEnrollments"


@pytest.fixture(autouse=True)
def bound() -> Iterator[None]:
    CLOCK.set(dt.datetime(2023, 11, 20, 10, 0, tzinfo=CST))
    with issuing_for(TOKENS, METHOD):
        yield


def _token(
    cursor: tuple[str, ...] = ("2024-01-01T00:00:00+08:00", "abc"), filters: dict[str, str] | None = None
) -> str:
    return page_request(2, "", filters=filters or {}, default=50, maximum=200).next_token(cursor, returned=2)


def _reason(token: str, filters: dict[str, str] | None = None) -> str:
    with pytest.raises(InvalidArgument) as refused:
        page_request(2, token, filters=filters or {}, default=50, maximum=200)
    assert refused.value.field == "page_token"
    return refused.value.reason


def test_zero_means_default_and_large_is_capped() -> None:
    assert page_request(0, "", filters={}, default=50, maximum=200).size == 50
    assert page_request(10_000, "", filters={}, default=50, maximum=200).size == 200


def test_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(-1, "", filters={}, default=50, maximum=200)
    assert refused.value.field == "page_size"


def test_a_token_carries_the_cursor_for_the_same_filters() -> None:
    token = _token(filters={"region": "340800"})
    second = page_request(2, token, filters={"region": "340800"}, default=50, maximum=200)
    assert second.cursor == ("2024-01-01T00:00:00+08:00", "abc")


def test_a_short_page_is_the_last() -> None:
    assert page_request(2, "", filters={}, default=50, maximum=200).next_token(("x",), returned=1) == ""


def test_changed_filters_with_an_old_token_are_refused() -> None:
    assert _reason(_token(filters={"region": "340800"}), {"region": "320400"}) == "PAGE_TOKEN_FILTER_CHANGED"


@pytest.mark.parametrize("token", ["garbage", "e30", "!!!", "a.b", "a.b.c", "é.é", "x" * (MAX_TOKEN_CHARS + 1)])
def test_a_token_we_did_not_issue_is_refused(token: str) -> None:
    assert _reason(token) == "INVALID_PAGE_TOKEN"


def test_deeply_nested_json_is_never_parsed() -> None:
    nested = base64.urlsafe_b64encode(("[" * 100_000 + "]" * 100_000).encode()).decode()
    assert _reason(nested + ".AAAA") == "INVALID_PAGE_TOKEN"


@pytest.mark.parametrize("cursor", ["text", -1, 10**40, None, [[["nested"]]], {"a": 1}])
def test_a_token_with_its_cursor_changed_is_refused(cursor: object) -> None:
    payload, mac = _token().split(".")
    document = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    document["c"] = [cursor, "abc"]
    tampered = base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")
    assert _reason(f"{tampered}.{mac}") == "INVALID_PAGE_TOKEN"


def test_a_token_of_another_method_is_refused() -> None:
    token = _token()
    with issuing_for(TOKENS, "/medins.collection.v1.CollectionService/ListOrders"):
        assert _reason(token) == "INVALID_PAGE_TOKEN"


def test_a_token_signed_with_another_key_is_refused() -> None:
    with issuing_for(PageTokens(b"other" * 8, CLOCK.now, dt.timedelta(hours=1)), METHOD):
        token = _token()
    assert _reason(token) == "INVALID_PAGE_TOKEN"


def test_an_expired_token_is_refused() -> None:
    token = _token()
    CLOCK.set(CLOCK.now() + dt.timedelta(hours=1, seconds=1))
    assert _reason(token) == "INVALID_PAGE_TOKEN"
    with pytest.raises(InvalidArgument) as refused:
        page_request(2, token, filters={}, default=50, maximum=200)
    assert refused.value.metadata == {"why": "expired"}


def test_a_token_of_another_shape_is_refused_not_crashed_on() -> None:
    token = _token(("a", "b"))
    page = page_request(2, token, filters={}, default=50, maximum=200)
    assert page.cursor_of(2) == ("a", "b")
    with pytest.raises(InvalidArgument) as refused:
        page.cursor_of(4)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
