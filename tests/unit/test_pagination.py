"""AIP-158 page sizes and tokens."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.common.pagination import page_request


def test_zero_means_default_and_large_is_capped() -> None:
    assert page_request(0, "", filters={}, default=50, maximum=200).size == 50
    assert page_request(10_000, "", filters={}, default=50, maximum=200).size == 200


def test_negative_page_size_is_refused() -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(-1, "", filters={}, default=50, maximum=200)
    assert refused.value.field == "page_size"


def test_a_token_carries_the_cursor_for_the_same_filters() -> None:
    first = page_request(2, "", filters={"region": "340800"}, default=50, maximum=200)
    token = first.next_token(("2024-01-01T00:00:00+08:00", "abc"), returned=2)
    second = page_request(2, token, filters={"region": "340800"}, default=50, maximum=200)
    assert second.cursor == ("2024-01-01T00:00:00+08:00", "abc")


def test_a_short_page_is_the_last() -> None:
    assert page_request(2, "", filters={}, default=50, maximum=200).next_token(("x",), returned=1) == ""


def test_changed_filters_with_an_old_token_are_refused() -> None:
    token = page_request(2, "", filters={"region": "340800"}, default=50, maximum=200).next_token(("x",), 2)
    with pytest.raises(InvalidArgument) as refused:
        page_request(2, token, filters={"region": "320400"}, default=50, maximum=200)
    assert refused.value.reason == "PAGE_TOKEN_FILTER_CHANGED"


@pytest.mark.parametrize("token", ["garbage", "e30", "!!!"])
def test_a_token_we_did_not_issue_is_refused(token: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        page_request(2, token, filters={}, default=50, maximum=200)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"


def test_a_token_of_another_shape_is_refused_not_crashed_on() -> None:
    token = page_request(2, "", filters={}, default=50, maximum=200).next_token(("a", "b"), 2)
    page = page_request(2, token, filters={}, default=50, maximum=200)
    assert page.cursor_of(2) == ("a", "b")
    with pytest.raises(InvalidArgument) as refused:
        page.cursor_of(4)
    assert refused.value.reason == "INVALID_PAGE_TOKEN"
