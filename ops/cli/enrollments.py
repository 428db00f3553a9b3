"""How an enrollment is shown by the registration-side subcommands (register, review, stop, age-out)."""

from __future__ import annotations

from collections.abc import Sequence

from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli.show import enum_name, range_text, table, time_text
from services.common.resident_id import mask as mask_id_number


def state(enrollment: pb.Enrollment) -> str:
    return enum_name("ENROLLMENT_STATE_", common_pb2.EnrollmentState.Name(enrollment.state))


def category(enrollment: pb.Enrollment) -> str:
    return enum_name("CATEGORY_", common_pb2.Category.Name(enrollment.category))


def summary(enrollment: pb.Enrollment) -> list[str]:
    """A few lines about one enrollment: id, state, person (ID number masked), place, years."""
    place = enrollment.region_code + (f" (school {enrollment.school_code})" if enrollment.school_code else "")
    lines = [
        f"enrollment {enrollment.enrollment_id}: {state(enrollment)}",
        f"  {enrollment.name} {mask_id_number(enrollment.resident_id_number)}, {category(enrollment)}, region {place}",
    ]
    lines += [f"  year {y.insurance_year}: coverage {range_text(y.coverage_period)}" for y in enrollment.years]
    if enrollment.rejection_reason:
        lines.append(f"  rejected: {enrollment.rejection_reason}")
    if enrollment.stop_note or enrollment.stop_time.seconds:
        reason = enum_name("STOP_REASON_", pb.StopReason.Name(enrollment.stop_reason))
        lines.append(f"  stopped {time_text(enrollment.stop_time)}: {reason} {enrollment.stop_note}".rstrip())
    return lines


def listing(enrollments: Sequence[pb.Enrollment]) -> list[str]:
    """One row per enrollment (ID numbers masked), or a line saying there are none."""
    if not enrollments:
        return ["(none)"]
    return table(
        ("ENROLLMENT", "STATE", "NAME", "ID NUMBER", "CATEGORY", "REGION", "REGISTERED"),
        [
            (
                e.enrollment_id,
                state(e),
                e.name,
                mask_id_number(e.resident_id_number),
                category(e),
                e.region_code,
                time_text(e.create_time),
            )
            for e in enrollments
        ],
    )
