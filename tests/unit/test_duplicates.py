"""R8: the duplicate enrollment check and its seed wording."""

from __future__ import annotations

import datetime as dt

import pytest

from services.common.errors import AlreadyExists, FailedPrecondition
from services.registration.domain.duplicates import HeldEnrollment, check_not_enrolled
from services.registration.domain.model import ExternalEnrollment, Region, Scheme

ANQING = Region("340800", "安庆市")
YILI = Region("654000", "伊犁哈萨克自治州")
N = "340802198001011234"


def external(scheme: Scheme, *, active: bool = True) -> ExternalEnrollment:
    return ExternalEnrollment(
        external_enrollment_id="x1",
        resident_id_number=N,
        name="钱八",
        region_code="320400",
        region_name="常州市",
        scheme=scheme,
        reporting_agency="常州市医疗保障局",
        active=active,
        created_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC),
    )


def test_a_person_with_nothing_anywhere_may_register() -> None:
    check_not_enrolled(
        resident_id_number=N, target=ANQING, held=None, external=[external(Scheme.EMPLOYEE, active=False)]
    )


@pytest.mark.parametrize(("scheme", "word"), [(Scheme.EMPLOYEE, "职工"), (Scheme.RESIDENT, "居民")])
def test_an_active_external_enrollment_is_refused_in_the_seed_wording(scheme: Scheme, word: str) -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_not_enrolled(resident_id_number=N, target=ANQING, held=None, external=[external(scheme)])
    assert refused.value.message_zh == f"此人在常州市存在{word}参保信息,不能重复参保!"
    assert refused.value.metadata == {"region_code": "320400", "region_name": "常州市", "scheme": scheme.value}
    assert "340802********1234" in refused.value.message and N not in refused.value.message


def test_an_open_enrollment_in_another_of_our_regions_is_a_duplicate() -> None:
    with pytest.raises(FailedPrecondition) as refused:
        check_not_enrolled(resident_id_number=N, target=ANQING, held=HeldEnrollment("e1", YILI), external=[])
    assert refused.value.message_zh == "此人在伊犁哈萨克自治州存在居民参保信息,不能重复参保!"


def test_an_open_enrollment_here_is_already_enrolled() -> None:
    with pytest.raises(AlreadyExists) as refused:
        check_not_enrolled(resident_id_number=N, target=ANQING, held=HeldEnrollment("e1", ANQING), external=[])
    assert refused.value.reason == "ALREADY_ENROLLED" and refused.value.metadata["enrollment_id"] == "e1"
