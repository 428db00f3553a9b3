"""R48: a payment certificate (缴费证明) lists every paid year asked for, with amounts and receipt numbers."""

from __future__ import annotations

import datetime as dt

import pytest

from services.collection.domain.certificates import (
    CertifiedFee,
    PaymentCertificate,
    certificate_number,
    check_something_paid,
    chosen_years,
)
from services.collection.domain.model import FeeType
from services.common.clock import CST
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.money import Fen

TODAY = dt.date(2023, 11, 20)
AT = dt.datetime(2023, 11, 20, 10, tzinfo=CST)


def fee(year: int, amount: int, receipt: str | None, kind: FeeType = FeeType.RESIDENT_MEDICAL) -> CertifiedFee:
    return CertifiedFee(year, kind, Fen(amount), receipt, AT)


def test_years_are_sorted_once_each_and_may_reach_the_one_on_sale() -> None:
    assert chosen_years([2024, 2022, 2024, 2023], TODAY) == (2022, 2023, 2024)


@pytest.mark.parametrize("years", [[], [2025], [1999], list(range(2000, 2021))])
def test_no_year_a_year_not_yet_on_sale_an_ancient_one_or_too_many_are_refused(years: list[int]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        chosen_years(years, TODAY)
    assert refused.value.field == "insurance_years"


def test_a_certificate_groups_fees_by_year_and_names_the_unpaid_years() -> None:
    certificate = PaymentCertificate(
        "JFZM20231120X",
        "340802198001011234",
        "郑一",
        (2022, 2023, 2024),
        (
            fee(2024, 38000, "PJ2"),
            fee(2023, 35000, "PJ1"),
            fee(2024, 20000, "PJ2", FeeType.RESIDENT_PENSION),
        ),
        AT,
        "channel:wechat",
    )
    years = certificate.years
    assert [(y.insurance_year, y.amount_fen, y.receipt_numbers) for y in years] == [
        (2023, 35000, ("PJ1",)),
        (2024, 58000, ("PJ2",)),
    ]
    assert [f.fee_type for f in years[1].fees] == [FeeType.RESIDENT_MEDICAL, FeeType.RESIDENT_PENSION]
    assert certificate.unpaid_years == (2022,)
    assert certificate.total_fen == 93000


def test_a_year_settled_by_the_subsidy_is_certified_with_no_receipt() -> None:
    subsidised = fee(2024, 0, None)
    assert subsidised.settled_by_subsidy
    certificate = PaymentCertificate("N", "P", "名", (2024,), (subsidised,), AT, "tax:desk")
    assert [(y.amount_fen, y.receipt_numbers) for y in certificate.years] == [(0, ())]


def test_nothing_paid_is_nothing_to_certify() -> None:
    check_something_paid([fee(2024, 38000, "PJ2")], [2024])
    with pytest.raises(FailedPrecondition) as refused:
        check_something_paid([], [2022, 2023])
    assert refused.value.reason == "NOTHING_PAID" and "无法开具缴费证明" in refused.value.message_zh


def test_the_number_carries_the_issue_day_and_the_token() -> None:
    assert certificate_number(TODAY, "ABCD") == "JFZM20231120ABCD"
