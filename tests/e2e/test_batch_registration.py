"""SPEC scenario 8 (R9, R41): a school submits 10,000 students with 50 bad rows through the template CLI;
9,950 are registered, the 50 get reasons (a bad character in a row is that row's result, never the
batch's), and the same file again creates nothing."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path

from medins.events.v1 import events_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from services.common.resident_id import check_character
from tests.e2e.clients import RegistrationClient
from tests.e2e.requests import new_request_id, register
from tests.e2e.system import ROOT, System
from tests.support import eventually

SCHOOL = "AQ-S900"
BATCH = "anqing-university-2023-autumn"
STUDENTS = 10_000


def student_id(i: int) -> str:
    body = f"340811{dt.date(2003, 1, 1) + dt.timedelta(days=i % 700):%Y%m%d}{i // 700:03d}"
    return body + check_character(body)


# Full-width digits, as a Chinese input method types them in full-width mode (issue 17, R41: a bad value
# of its row, answered with what to type instead).
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def _bad_row(kind: int, row: int, number: str, already_enrolled: list[str], used: int) -> dict[str, str]:
    """The fields that make one row bad, with the reason expected (the kinds a school's file holds)."""
    return [
        lambda: {"typed": number[:-1] + ("0" if number[-1] != "0" else "1"), "reason": "INVALID_RESIDENT_ID"},
        lambda: {"typed": f"{number[:6]} {number[6:]}", "reason": "INVALID_RESIDENT_ID"},  # found at the edge
        lambda: {"typed": number.translate(FULL_WIDTH), "reason": "INVALID_RESIDENT_ID"},  # found at the edge
        lambda: {"typed": _impossible_birth_date(row), "reason": "INVALID_RESIDENT_ID"},  # found by the domain
        lambda: {"name": f"学生#{row}", "reason": "INVALID_CHARACTERS"},
        lambda: {"name": "学" * 65, "reason": "FIELD_TOO_LONG"},
        lambda: {"name": "", "reason": "FIELD_REQUIRED"},
        lambda: {"phone": "1390013900", "reason": "INVALID_PHONE"},
        lambda: {"category": "非从业居民", "reason": "EVIDENCE_MISSING"},  # needs the household register
        lambda: {"typed": student_id(row - 1), "reason": "DUPLICATE_IN_BATCH"},  # same chunk of 2,000
        lambda: {"school": "NO-SUCH-SCHOOL", "reason": "SCHOOL_NOT_FOUND"},
        lambda: {"typed": already_enrolled[used], "reason": "DUPLICATE_ENROLLMENT"},
        lambda: {"category": "学生", "reason": "UNKNOWN_CATEGORY"},  # refused by the CLI before sending
    ][kind]()


BAD_KINDS = 13


def _impossible_birth_date(row: int) -> str:
    body = f"34081120030230{row % 1000:03d}"
    return body + check_character(body)


def build_file(already_enrolled: list[str]) -> tuple[str, dict[int, str]]:
    """The CSV (Chinese template headers) and the reason expected for each of its 50 bad rows, spread
    through the file: wrong checksums, a space inside the number, full-width digits, an impossible
    birth date, a bad character, an over-long or missing name, a short phone, missing evidence, a
    duplicate in the batch, an unknown school, an enrollment elsewhere and an unknown category."""
    bad: dict[int, str] = {}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "身份证号码", "姓名", "手机号码", "医保区划", "学校代码", "参保身份", "材料"])
    duplicates_elsewhere = 0
    for row in range(1, STUDENTS + 1):
        number = student_id(row)
        fields = {"typed": number, "name": f"学生{row}", "phone": "13900139000", "school": SCHOOL}
        fields["category"] = "高校大学生"
        if row % 200 == 7:  # 50 bad rows
            kind = len(bad) % BAD_KINDS
            fields |= _bad_row(kind, row, number, already_enrolled, duplicates_elsewhere)
            duplicates_elsewhere += fields["reason"] == "DUPLICATE_ENROLLMENT"
            bad[row] = fields["reason"]
        f = fields
        writer.writerow([row, f["typed"], f["name"], f["phone"], "", f["school"], f["category"], ""])
    return out.getvalue(), bad


def upload(system: System, path: Path, results: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "ops.batch_upload",
            str(path),
            "--batch-id",
            BATCH,
            "--submitter",
            SCHOOL,
            "--address",
            system.address("registration"),
            "--results",
            str(results),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


async def enrollment_count(system: System) -> int:
    return int(await system.value("insurance", "SELECT count(*) FROM enrollments WHERE school_code = $1", SCHOOL))


async def test_scenario_8_ten_thousand_students_fifty_bad_rows_and_a_resubmission(
    system: System, registration: RegistrationClient, tmp_path: Path
) -> None:
    await registration.CreateSchool(
        reg.CreateSchoolRequest(
            request_id=new_request_id(),
            school=reg.School(school_code=SCHOOL, name="安庆示范大学", region_code="340800"),
        )
    )
    elsewhere = [student_id(STUDENTS + 1 + i) for i in range(5)]
    for number in elsewhere:  # already enrolled as residents of Yili
        await registration.RegisterResident(register(number, region="654000"))
    text, bad = build_file(elsewhere)
    assert len(bad) == 50 and len(set(bad.values())) == 10
    source = tmp_path / "students.csv"
    source.write_text(text, encoding="utf-8")

    first = await asyncio.to_thread(upload, system, source, tmp_path / "first.csv")
    assert first.returncode == 0, first.stderr
    rows = list(csv.DictReader((tmp_path / "first.csv").open(encoding="utf-8")))
    assert len(rows) == STUDENTS
    refused = {int(r["row_number"]): r for r in rows if r["outcome"] == "REFUSED"}
    assert {n: r["reason"] for n, r in refused.items()} == bad
    assert all(r["message"] for r in refused.values())
    assert sum(r["outcome"] == "REGISTERED" for r in rows) == 9_950
    assert await enrollment_count(system) == 9_950
    full_width = [r for r in refused.values() if "全角" in r["message"]]
    assert len(full_width) == 4, "a full-width digit is answered with what to type instead"

    summary = await registration.GetRegistrationBatch(
        reg.GetRegistrationBatchRequest(batch_id=BATCH, refused_only=True)
    )
    by_cli = sum(reason == "UNKNOWN_CATEGORY" for reason in bad.values())  # refused before sending
    sent_refused = 50 - by_cli
    assert (summary.row_count, summary.accepted_count, summary.refused_count) == (
        STUDENTS - by_cli,
        9_950,
        sent_refused,
    )
    assert len(summary.results) == sent_refused

    events_before = await registered_events_for_school(system)
    assert events_before == 9_950

    again = await asyncio.to_thread(upload, system, source, tmp_path / "second.csv")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "second.csv").read_text() == (tmp_path / "first.csv").read_text()
    assert await enrollment_count(system) == 9_950
    assert await registered_events_for_school(system) == events_before

    async def assessed() -> None:
        count = await system.value(
            "tax",
            """SELECT count(*) FROM payable_items i JOIN insured_persons p USING (resident_id_number)
               WHERE p.name LIKE '学生%'""",
        )
        assert count == 9_950

    await eventually(assessed, timeout=120)


async def registered_events_for_school(system: System) -> int:
    ids = {
        str(r[0])
        for r in await system.query("insurance", "SELECT enrollment_id FROM enrollments WHERE school_code = $1", SCHOOL)
    }
    rows = await system.query("insurance", "SELECT envelope FROM outbox WHERE event_type = 'enrollment.registered'")
    return sum(1 for r in rows if events_pb2.EventEnvelope.FromString(r[0]).enrollment_registered.enrollment_id in ids)
