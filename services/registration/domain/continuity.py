"""Continuity of enrollment (R37, R39): which benefit years a person was enrolled and paid for, in any
region and scheme, and what that makes of a year. The one place that answers "continuous up to year
Y?" and "how many gap years before Y?"; waiting periods and the incentive ask it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.periods import cst_date
from services.registration.domain.model import Enrollment, ExternalEnrollment, YearStatus


@dataclass(frozen=True)
class Continuity:
    """The years a person counts as enrolled and paid (resident years covered here, in any region;
    years of an enrollment another system reported, R8) and the years they repaired (R38)."""

    enrolled: frozenset[int]
    repaired: frozenset[int] = frozenset()

    def gap_years_before(self, year: int, counting_from: int) -> int:
        """The benefit years right before `year`, back to `counting_from`, with no enrollment."""
        gaps = 0
        for earlier in range(year - 1, counting_from - 1, -1):
            if earlier in self.enrolled:
                break
            gaps += 1
        return gaps

    def repaired_gap_years_before(self, year: int, counting_from: int) -> int:
        """How many of those gap years were repaired."""
        gap = self.gap_years_before(year, counting_from)
        return sum(1 for earlier in range(year - gap, year) if earlier in self.repaired)

    def continuous_run_before(self, year: int, counting_from: int) -> tuple[int, ...]:
        """The unbroken run of enrolled years ending the year before `year`, oldest first."""
        run: list[int] = []
        for earlier in range(year - 1, counting_from - 1, -1):
            if earlier not in self.enrolled:
                break
            run.append(earlier)
        return tuple(reversed(run))

    def is_continuous_before(self, year: int, counting_from: int) -> bool:
        return self.gap_years_before(year, counting_from) == 0


# A year counts as enrolled and paid once covered, in whichever region (a move keeps continuity).
COUNTS_AS_ENROLLED = YearStatus.COVERED


def continuity_of(
    enrollments: Iterable[Enrollment],
    external: Iterable[ExternalEnrollment],
    repaired: Iterable[int] = (),
    *,
    today: dt.date,
) -> Continuity:
    """A person's continuity from what insurance knows of them. A move between regions keeps it when no
    year is left unpaid: every region's covered years count alike."""
    covered = {y.insurance_year for e in enrollments for y in e.years if y.status is COUNTS_AS_ENROLLED}
    return continuity_from(covered, external, repaired, today=today)


def continuity_from(
    covered: Iterable[int], external: Iterable[ExternalEnrollment], repaired: Iterable[int] = (), *, today: dt.date
) -> Continuity:
    """The same from the years already selected as COUNTS_AS_ENROLLED (the payment path's one read)."""
    years = set(covered)
    for other in external:
        # Another system's enrollment counts for every benefit year it spanned (R8).
        last = cst_date(other.ended_at).year if other.ended_at else today.year
        years.update(range(cst_date(other.created_at).year, last + 1))
    return Continuity(frozenset(years), frozenset(repaired) - frozenset(years))
