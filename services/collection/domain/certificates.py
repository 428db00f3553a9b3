"""Payment certificates (缴费证明, R48): what a resident paid for the benefit years they chose, under a
number anyone can verify.

Xuancheng: "请按税务部门查询参保信息并开具缴费证明"; Anqing advises residents to authenticate in their own
name "以免影响后期查询缴费证明". A certificate lists every paid year asked for, with its amount and receipt
numbers, and the years asked for with nothing paid; it is kept as issued, so verifying it later answers
what it certified (a refund since is marked, never silently dropped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from services.collection.domain.model import FeeType
from services.common.errors import FailedPrecondition, InvalidArgument
from services.common.money import Fen

MAX_CERTIFICATE_YEARS = 20
# The first benefit year of the urban and rural resident scheme (城乡居民医保, merged from 2016 on); older
# years are typing mistakes, not records.
FIRST_BENEFIT_YEAR = 2000
CERTIFICATE_PREFIX = "JFZM"  # 缴费证明


@dataclass(frozen=True)
class CertifiedFee:
    insurance_year: int
    fee_type: FeeType
    amount_fen: Fen
    receipt_number: str | None  # None: settled by the subsidy, nothing was paid
    paid_at: dt.datetime
    reversed_since_issue: bool = False

    @property
    def settled_by_subsidy(self) -> bool:
        return self.receipt_number is None


@dataclass(frozen=True)
class CertifiedYear:
    insurance_year: int
    fees: tuple[CertifiedFee, ...]

    @property
    def amount_fen(self) -> Fen:
        return Fen(sum(f.amount_fen for f in self.fees))

    @property
    def receipt_numbers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.receipt_number for f in self.fees if f.receipt_number))


@dataclass(frozen=True)
class PaymentCertificate:
    certificate_number: str
    resident_id_number: str
    resident_name: str
    requested_years: tuple[int, ...]
    fees: tuple[CertifiedFee, ...]
    issued_at: dt.datetime
    issued_by: str

    @property
    def years(self) -> tuple[CertifiedYear, ...]:
        """Every paid year asked for, ascending, each with its fees."""
        by_year: dict[int, list[CertifiedFee]] = {}
        for fee in sorted(self.fees, key=lambda f: (f.insurance_year, f.fee_type.value)):
            by_year.setdefault(fee.insurance_year, []).append(fee)
        return tuple(CertifiedYear(year, tuple(fees)) for year, fees in by_year.items())

    @property
    def unpaid_years(self) -> tuple[int, ...]:
        paid = {f.insurance_year for f in self.fees}
        return tuple(y for y in self.requested_years if y not in paid)

    @property
    def total_fen(self) -> Fen:
        return Fen(sum(f.amount_fen for f in self.fees))


def chosen_years(years: Iterable[int], today: dt.date) -> tuple[int, ...]:
    """The benefit years to certify: at least one, each a year that can have been paid (up to the one
    on sale next), given once or more; at most MAX_CERTIFICATE_YEARS."""
    distinct = tuple(sorted(set(years)))
    if not distinct:
        raise InvalidArgument(
            "FIELD_REQUIRED",
            "choose at least one benefit year to certify",
            "请选择需要开具缴费证明的年度",
            field="insurance_years",
        )
    if len(distinct) > MAX_CERTIFICATE_YEARS:
        raise InvalidArgument(
            "TOO_MANY_YEARS",
            f"at most {MAX_CERTIFICATE_YEARS} benefit years on one certificate",
            f"一份缴费证明最多包含{MAX_CERTIFICATE_YEARS}个年度",
            field="insurance_years",
            metadata={"limit": MAX_CERTIFICATE_YEARS},
        )
    latest = today.year + 1
    for year in distinct:
        if not FIRST_BENEFIT_YEAR <= year <= latest:
            raise InvalidArgument(
                "INVALID_YEAR",
                f"benefit year {year} is not one that can have been paid ({FIRST_BENEFIT_YEAR}-{latest})",
                f"年度{year}不在可缴费年度范围内",
                field="insurance_years",
                metadata={"year": year, "earliest": FIRST_BENEFIT_YEAR, "latest": latest},
            )
    return distinct


def check_something_paid(fees: Sequence[CertifiedFee], years: Sequence[int]) -> None:
    """A certificate certifies payments: with nothing paid for any year asked for there is nothing to
    certify (the resident is told so, rather than given an empty certificate)."""
    if not fees:
        raise FailedPrecondition(
            "NOTHING_PAID",
            f"nothing is paid for the benefit years {', '.join(map(str, years))}",
            "所选年度暂无缴费记录,无法开具缴费证明",
            metadata={"years": ",".join(map(str, years))},
        )


def certificate_number(issued_on: dt.date, token: str) -> str:
    """JFZM, the CST issue date and a random token: unguessable, so a number is a right to see what the
    certificate certified, and one number cannot be had from another."""
    return f"{CERTIFICATE_PREFIX}{issued_on:%Y%m%d}{token}"
