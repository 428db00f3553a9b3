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


# Full-width digits, as a Chinese input method types them: the same digits (issue 17).
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def build_file(already_enrolled: list[str]) -> tuple[str, dict[int, str], list[str]]:
    """The CSV (Chinese template headers), the reason expected for each bad row (the kinds a school's
    file holds, issue 17: wrong checksums, a space inside the number, a bad character or an over-long
    name, a missing name, missing evidence...), and the numbers of the good rows typed in full-width
    digits, which register under their ASCII digits."""
    bad: dict[int, str] = {}
    full_width: list[str] = []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["序号", "身份证号码", "姓名", "手机号码", "医保区划", "学校代码", "参保身份", "材料"])
    for row in range(1, STUDENTS + 1):
        number, name, phone, school, category = student_id(row), f"学生{row}", "13900139000", SCHOOL, "高校大学生"
        typed, evidence = number, ""
        kind, block = row % 200, (row - 1) // 1000  # 50 bad rows, 5 of each kind, spread through the file
        if kind == 7 and block == 0:
            typed, bad[row] = number[:-1] + ("0" if number[-1] != "0" else "1"), "INVALID_RESIDENT_ID"
        elif kind == 7 and block == 1:
            typed, bad[row] = f"{number[:6]} {number[6:]}", "INVALID_RESIDENT_ID"  # found at the edge
        elif kind == 7 and block == 2:
            body = f"34081120030230{row % 1000:03d}"
            typed, bad[row] = body + check_character(body), "INVALID_RESIDENT_ID"  # found by the domain
        elif kind == 7 and block == 3:
            name, bad[row] = f"学生#{row}", "INVALID_CHARACTERS"
        elif kind == 7 and block == 4:
            name, bad[row] = "学" * 65, "FIELD_TOO_LONG"
        elif kind == 7 and block == 5:
            name, bad[row] = "", "FIELD_REQUIRED"
        elif kind == 7 and block == 6:
            category, bad[row] = "非从业居民", "EVIDENCE_MISSING"  # needs the household register
        elif kind == 7 and block == 7:
            typed, bad[row] = student_id(row - 1), "DUPLICATE_IN_BATCH"  # same chunk of 2,000
        elif kind == 7 and block == 8:
            typed, bad[row] = already_enrolled[len([r for r in bad if r > 8000])], "DUPLICATE_ENROLLMENT"
        elif kind == 7:
            category, bad[row] = "学生", "UNKNOWN_CATEGORY"
        elif kind == 57:
            typed, phone = number.translate(FULL_WIDTH), phone.translate(FULL_WIDTH)
            full_width.append(number)
        writer.writerow([row, typed, name, phone, "", school, category, evidence])
    return out.getvalue(), bad, full_width


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
    text, bad, full_width = build_file(elsewhere)
    assert len(bad) == 50 and len(full_width) == 50
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
    typed_full_width = await system.value(
        "insurance", "SELECT count(*) FROM enrollments WHERE resident_id_number = ANY($1::text[])", full_width
    )
    assert typed_full_width == len(full_width), "full-width digits register under their ASCII digits"

    summary = await registration.GetRegistrationBatch(
        reg.GetRegistrationBatchRequest(batch_id=BATCH, refused_only=True)
    )
    assert (summary.row_count, summary.accepted_count, summary.refused_count) == (9_995, 9_950, 45)
    assert len(summary.results) == 45  # the 5 unknown categories were refused by the CLI before sending

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
