"""`medins audit`: every grant's start obeys the waiting rule of its policy version (R37, R38).

For each year covered under the long-term mechanism, the wait is decided again by the domain
(services/registration/domain/coverage.py, the one place it is decided) on what insurance knows of the
person now. The stored first covered day must be that day: a later one means a person waits longer than
the law says (a shortening that was not applied), an earlier one that the fund pays during a wait. An
earlier start is allowed only when the person had coverage withdrawn since (a refund of an earlier year
can lengthen a later year's wait, and coverage once granted is not cut back for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ops.audit_checks import CheckResult
from services.common.resident_id import mask
from services.registration.domain.coverage import PersonHistory, decide_coverage
from services.registration.domain.long_term_rules import LongTermRules
from services.registration.domain.model import YearStatus

NAME = "grant starts obey the waiting rule"


@dataclass(frozen=True)
class WaitSnapshot:
    people: list[PersonHistory]
    rules: Mapping[tuple[str, int, int], LongTermRules]
    withdrawn: set[str]  # resident ID numbers with a WITHDRAWAL in coverage_grants


def check_grant_starts(snapshot: WaitSnapshot) -> CheckResult:
    violations = []
    for person in snapshot.people:
        for enrollment in person.enrollments:
            for year in enrollment.years:
                if year.status is not YearStatus.COVERED or year.paid_on is None or year.wait_free_until is None:
                    continue
                rules = snapshot.rules[(enrollment.region_code, year.insurance_year, year.policy_version)]
                expected, _ = decide_coverage(enrollment, year, year.paid_on, rules, person)
                stored = year.covered_period.start
                early_allowed = enrollment.resident_id_number in snapshot.withdrawn
                if stored > expected.covered_from or (stored < expected.covered_from and not early_allowed):
                    violations.append(
                        f"{mask(enrollment.resident_id_number)} {year.insurance_year}: covered from {stored}, "
                        f"the rule says {expected.covered_from} ({expected.wait_months} months)"
                    )
    return CheckResult(NAME, violations)
