"""`medins` against the running system, as an operator runs it: a subprocess of the installed console
script with the system's MEDINS_* settings (issue 13). The README's demo path (register -> order -> pay ->
check -> receipt), every subcommand at least once, and the mistakes an operator makes (an unknown order,
a mistyped field, a bad channel, a service or the broker down): each told in a line or two, never with a
traceback, and with a non-zero exit status. `medins pay` posts to the HTTPS callback endpoint (R44), which
runs for this module's tests; `--grpc` keeps NotifyPayment."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ops.free_ports import free_port
from services.common.money import yuan_text
from tests.e2e.system import ROOT, System
from tests.factories import unique_resident_id
from tests.support import eventually

MEDINS = Path(sys.executable).parent / "medins"
ANQING, XUANCHENG = "340800", "341800"


@pytest.fixture(scope="module", autouse=True)
async def callbacks(system: System) -> AsyncIterator[None]:
    """R44: the callback endpoint `make run` starts, where `medins pay` sends the channel's callback."""
    system.start("callbacks")
    await system.wait_ready(["callbacks"])
    yield
    system.stop("callbacks")


async def medins(system: System, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs `medins ARGS` with the system's settings; fails the test on any traceback."""
    done = await asyncio.to_thread(
        subprocess.run,
        [str(MEDINS), *args],
        env={**system.env, **(env or {})},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


async def ok(system: System, *args: str) -> str:
    done = await medins(system, *args)
    assert done.returncode == 0, f"medins {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


async def ok_json(system: System, *args: str) -> Any:
    return json.loads(await ok(system, *args, "--json"))


async def register(system: System, number: str, name: str, region: str = ANQING) -> dict[str, Any]:
    reply = await ok_json(
        system,
        "register",
        *("--id", number, "--name", name, "--phone", "13800138000", "--region", region),
        *("--category", "non-employed", "--evidence", "household-register:doc-1"),
    )
    enrollment: dict[str, Any] = reply["enrollment"]
    return enrollment


async def ordered(system: System, number: str, name: str) -> dict[str, Any]:
    """Waits for the tax side to assess the registration (an event away), then orders its items."""

    async def assessed() -> None:
        items = await ok_json(system, "order", "items", "--payer", number, "--name", name)
        assert items.get("payable_items"), "not assessed yet"

    await eventually(assessed, timeout=30, interval=0.2)
    created = await ok_json(system, "order", "create", "--payer", number, "--name", name)
    order: dict[str, Any] = created["order"]
    return order


async def test_the_demo_path_runs_with_medins_commands_only(system: System) -> None:
    number, name = unique_resident_id(), "陈演示"
    enrollment = await register(system, number, name)
    assert enrollment["state"] == "ENROLLMENT_STATE_ACTIVE"
    order = await ordered(system, number, name)
    assert order["status"] == "ORDER_STATUS_PENDING" and int(order["total_fen"]) == 38000

    paid = await ok_json(system, "pay", order["order_id"], "--channel", "wechat", "--payer", number)
    assert paid["notification"]["outcome"] == "NOTIFICATION_OUTCOME_APPLIED"
    receipt = paid["receipt"]
    assert receipt["order_id"] == order["order_id"] and int(receipt["total_fen"]) == 38000
    assert receipt["channel"] == "PAYMENT_CHANNEL_WECHAT"

    async def covered() -> None:
        answer = await ok_json(system, "check", number, "--year", "2024")
        assert answer["result"]["status"] == "CHECK_STATUS_COVERED", answer

    await eventually(covered, timeout=30, interval=0.2)
    shown = await ok(system, "receipt", "--payer", number, "--order", order["order_id"])
    assert f"receipt {receipt['receipt_number']}" in shown and "380.00 yuan" in shown
    assert number not in shown, "the receipt shows the ID number masked"
    status = await ok(system, "order", "show", order["order_id"], "--payer", number)
    assert "PAID" in status and receipt["receipt_number"] in status


async def test_pay_goes_through_the_callback_endpoint_and_grpc_stays_available(system: System) -> None:
    """R44: by default the callback is POSTed to the channel's path of the HTTPS endpoint and stored with
    its outcome there (R21b); `--grpc` sends the same kind of callback over NotifyPayment, one intake.
    The endpoint down is said in two lines with the unreachable status, never a traceback."""
    number, name = unique_resident_id(), "回调演示"
    await register(system, number, name)
    order = await ordered(system, number, name)
    nobody = f"https://127.0.0.1:{free_port()}"
    down = await medins(
        system, "pay", order["order_id"], "--channel", "wechat", "--payer", number, "--callbacks-url", nobody
    )
    assert down.returncode == 3, down.stderr
    assert "cannot reach the callback endpoint" in down.stderr and nobody in down.stderr, down.stderr
    assert len(down.stderr.strip().splitlines()) <= 2
    assert await notifications(system, order["order_id"]) == []

    paid = await ok_json(system, "pay", order["order_id"], "--channel", "wechat", "--payer", number)
    assert paid["notification"]["outcome"] == "NOTIFICATION_OUTCOME_APPLIED"
    assert paid["receipt"]["receipt_number"] == paid["notification"]["receipt_number"]
    assert '"callback_answered"' in system.log_text("callbacks")
    assert await notifications(system, order["order_id"]) == ["APPLIED"]

    again = await ok_json(system, "pay", order["order_id"], "--channel", "wechat", "--payer", number)
    assert again["notification"]["outcome"] == "NOTIFICATION_OUTCOME_REFUND_RAISED"  # another transaction, R23
    assert again["notification"]["refund_id"] and not again.get("receipt")

    other, other_name = unique_resident_id(), "通道旧路"
    await register(system, other, other_name)
    by_grpc = await ordered(system, other, other_name)
    sent = await ok_json(system, "pay", by_grpc["order_id"], "--channel", "alipay", "--payer", other, "--grpc")
    assert sent["notification"]["outcome"] == "NOTIFICATION_OUTCOME_APPLIED"
    assert sent["receipt"]["channel"] == "PAYMENT_CHANNEL_ALIPAY"
    assert await notifications(system, by_grpc["order_id"]) == ["APPLIED"]


async def notifications(system: System, order_id: str) -> list[str]:
    """The order's callbacks as the intake stored them (R21b), oldest first."""
    rows = await system.query(
        "tax", "SELECT outcome FROM channel_notifications WHERE order_id = $1 ORDER BY notification_id", order_id
    )
    return [r["outcome"] for r in rows]


async def test_pay_speaks_each_channels_own_format(system: System) -> None:
    """Alipay (form-encoded yuan), a bank (the UnionPay fen string, by the alias `bank`) and the e-tax
    bureau (ours), next to WeChat in the demo: each is parsed, its signature verified, the payment applied.
    (Every channel's payload is read back by formats.parse in tests/unit/test_medins_cli.py.)"""
    for channel, expected in (
        ("alipay", "ALIPAY"),
        ("bank", "BANK_APP"),
        ("bank-counter", "BANK_COUNTER"),
        ("e-tax", "E_TAX"),
    ):
        number, name = unique_resident_id(), "渠道测试"
        await register(system, number, name)
        order = await ordered(system, number, name)
        paid = await ok_json(system, "pay", order["order_id"], "--channel", channel, "--payer", number)
        assert paid["notification"]["outcome"] == "NOTIFICATION_OUTCOME_APPLIED", channel
        assert paid["receipt"]["channel"] == f"PAYMENT_CHANNEL_{expected}"


async def test_paying_again_with_the_same_transaction_has_one_effect(system: System) -> None:
    number, name = unique_resident_id(), "重复通知"
    await register(system, number, name)
    order = await ordered(system, number, name)
    first = await ok_json(
        system, "pay", order["order_id"], "--channel", "wechat", "--payer", number, "--transaction-id", "4200cli0001"
    )
    again = await ok_json(
        system,
        *("pay", order["order_id"], "--channel", "wechat", "--payer", number, "--transaction-id", "4200cli0001"),
        *("--amount", yuan_text(int(order["total_fen"]))),
    )
    assert again["notification"]["payment_id"] == first["notification"]["payment_id"]
    assert again["notification"]["receipt_number"] == first["notification"]["receipt_number"]


async def test_a_wrong_amount_is_refused_in_two_lines(system: System) -> None:
    number, name = unique_resident_id(), "金额不符"
    await register(system, number, name)
    order = await ordered(system, number, name)
    done = await medins(system, "pay", order["order_id"], "--channel", "alipay", "--payer", number, "--amount", "1.00")
    assert done.returncode == 1
    assert "AMOUNT_MISMATCH" in done.stderr and "FAILED_PRECONDITION" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


async def test_family_bind_list_and_unbind(system: System) -> None:
    """R46, Xuancheng: "请按前文规定先进行绑定": `medins family` binds a member to a family mutual-aid account,
    lists the members and unbinds them; a mistake is one clean line, never a traceback."""
    member, name = unique_resident_id(), "共济成员"
    holder = unique_resident_id()
    await register(system, member, name)

    async def assessed() -> None:
        items = await ok_json(system, "order", "items", "--payer", member, "--name", name)
        assert items.get("payable_items"), "not assessed yet"

    await eventually(assessed, timeout=30, interval=0.2)
    empty = await ok(system, "family", "list", "--holder", holder)
    assert "no family member is bound" in empty
    who = ("--holder", holder, "--holder-name", "户主甲", "--member", member)
    bound = await ok(system, "family", "bind", *who, "--member-name", name, "--relationship", "spouse")
    assert bound.startswith("bound: ") and name in bound and "spouse" in bound
    assert member not in bound, "the member's ID number is shown masked"
    listed = await ok_json(system, "family", "list", "--holder", holder)
    assert [m["member_id_number"] for m in listed["members"]] == [member]

    wrong = await medins(system, "family", "bind", *who, "--member-name", "别人", "--relationship", "child")
    assert wrong.returncode == 1 and "INSURED_PERSON_NOT_MATCHED" in wrong.stderr, wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) <= 2
    bad_relationship = await medins(system, "family", "bind", *who, "--member-name", name, "--relationship", "boss")
    assert bad_relationship.returncode == 2 and "spouse" in bad_relationship.stderr

    assert (await ok(system, "family", "unbind", *who)).startswith("unbound: ")
    again = await medins(system, "family", "unbind", *who)
    assert again.returncode == 1 and "FAMILY_MEMBER_NOT_BOUND" in again.stderr, again.stderr


async def test_certificate_issue_and_verify(system: System) -> None:
    """R48, Xuancheng: "请按税务部门查询参保信息并开具缴费证明": `medins certificate issue` lists the paid year
    with its amount and receipt; `verify` answers what the number certified; mistakes are one clean line."""
    number, name = unique_resident_id(), "证明演示"
    await register(system, number, name)
    order = await ordered(system, number, name)
    paid = await ok_json(system, "pay", order["order_id"], "--channel", "wechat", "--payer", number)
    receipt = paid["receipt"]["receipt_number"]

    shown = await ok(system, "certificate", "issue", number, "--year", "2024", "--year", "2023")
    assert "payment certificate JFZM" in shown and f"2024: 380.00 yuan (receipts {receipt})" in shown, shown
    assert "not paid: 2023" in shown and number not in shown, "the ID number is shown masked"
    certificate = shown.split()[2]
    verified = await ok_json(system, "certificate", "verify", certificate)
    assert verified["certificate"]["certificate_number"] == certificate
    assert [y["insurance_year"] for y in verified["certificate"]["years"]] == [2024]

    unknown = await medins(system, "certificate", "verify", "JFZM20231120NOSUCH")
    assert unknown.returncode == 1 and "CERTIFICATE_NOT_FOUND" in unknown.stderr, unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) <= 2
    short_year = await medins(system, "certificate", "issue", number, "--year", "24")
    assert short_year.returncode == 2 and "benefit year" in short_year.stderr


async def test_my_enrollment_shows_a_residents_own_status(system: System) -> None:
    """R48, Xuancheng: "点击“城乡居民参保查询”,即可查询已经参保缴费的“缴费记录”": `medins my-enrollment`, as a
    channel app asks for the resident it authenticated."""
    number, name = unique_resident_id(), "参保查询"
    await register(system, number, name)
    order = await ordered(system, number, name)
    await ok_json(system, "pay", order["order_id"], "--channel", "alipay", "--payer", number)

    async def covered() -> None:
        shown = await ok(system, "my-enrollment", number, "--year", "2024")
        assert "in 2024: COVERED" in shown and "covered 2024-01-01..2024-12-31" in shown, shown

    await eventually(covered, timeout=30, interval=0.2)
    both = await ok_json(system, "my-enrollment", number)
    assert [r["insurance_year"] for r in both["results"]] == [2023, 2024]


async def test_review_queue_approve_and_reject(system: System) -> None:
    first, second = unique_resident_id(), unique_resident_id()
    waiting = [await register(system, n, "审核测试", region=XUANCHENG) for n in (first, second)]
    assert {e["state"] for e in waiting} == {"ENROLLMENT_STATE_PENDING_REVIEW"}
    queue = await ok_json(system, "review", "list", "--region", XUANCHENG, "--limit", "1000")
    queued = {e["enrollment_id"] for e in queue["enrollments"]}
    assert {e["enrollment_id"] for e in waiting} <= queued
    human = await ok(system, "review", "list", "--region", XUANCHENG, "--limit", "1000")
    assert waiting[0]["enrollment_id"] in human and first not in human, "IDs are masked in the queue"

    approved = await ok_json(system, "review", "approve", waiting[0]["enrollment_id"], "--officer", "officer-7")
    assert approved["enrollment"]["state"] == "ENROLLMENT_STATE_ACTIVE"
    rejected = await ok_json(
        system, "review", "reject", waiting[1]["enrollment_id"], "--officer", "officer-7", "--reason", "材料不全"
    )
    assert rejected["enrollment"]["state"] == "ENROLLMENT_STATE_REJECTED"
    assert rejected["enrollment"]["rejection_reason"] == "材料不全"
    after = await ok_json(system, "review", "list", "--region", XUANCHENG, "--limit", "1000")
    assert not {e["enrollment_id"] for e in waiting} & {e["enrollment_id"] for e in after.get("enrollments", [])}

    again = await medins(system, "review", "approve", waiting[1]["enrollment_id"], "--officer", "officer-7")
    assert again.returncode == 1 and "FAILED_PRECONDITION" in again.stderr, again.stderr


async def test_stop_and_the_age_out_list(system: System) -> None:
    enrollment = await register(system, unique_resident_id(), "停保测试")
    stopped = await ok_json(system, "stop", enrollment["enrollment_id"], "--reason", "moved-away")
    assert stopped["enrollment"]["state"] == "ENROLLMENT_STATE_STOPPED"
    system_only = await medins(system, "stop", enrollment["enrollment_id"], "--reason", "aged-out")
    assert system_only.returncode == 2 and "unknown stop reason 'aged-out'" in system_only.stderr
    listed = await ok(system, "age-out", "list", "--region", ANQING, "--year", "2024")
    assert listed.startswith(("ENROLLMENT", "(none)")), listed


async def test_policies_list_show_and_set_a_new_version(system: System) -> None:
    listed = await ok(system, "policies", "list", "--region", ANQING)
    assert any(line.split()[:2] == [ANQING, "2024"] for line in listed.splitlines()), listed
    shown = await ok(system, "policies", "show", ANQING, "2024")
    assert "individual standard 380.00 yuan" in shown

    missing = await medins(system, "policies", "set", "654000", "2031", "--standard", "300.00")
    assert missing.returncode == 2 and "no policy for 2031 yet" in missing.stderr, missing.stderr
    first = await ok_json(
        system,
        *("policies", "set", "654000", "2031", "--standard", "300.00", "--review", "automatic"),
        *("--window", "2030-09-01..2030-12-31", "--benefit", "2031-01-01..2031-12-31"),
        *("--subsidy", "hardship-low-income=150.00"),
    )
    second = await ok_json(system, "policies", "set", "654000", "2031", "--standard", "310.50")
    assert int(second["policy"]["version"]) == int(first["policy"]["version"]) + 1
    assert int(second["policy"]["individual_standard_fen"]) == 31050
    assert second["policy"]["category_subsidies"] == first["policy"]["category_subsidies"], "unchanged is kept"
    assert second["policy"]["collection_window"] == first["policy"]["collection_window"]


async def test_policies_show_lists_the_documents_each_category_needs_and_the_channels_opening_days(
    system: System,
) -> None:
    """R45, R49 (issue 19 item 1): `medins policies show` lists the region's documents and channel openings.
    Seed 000 (Changzhou): ④“非从业居民”:本人居民身份证、户口簿、经年度审验本人的《就业登记证》; 2.11月1日起,
    …也可通过银行柜台、微信、支付宝、POS机刷卡…等渠道缴费. Seed 003 (Anqing): 非本市户籍但在我市常住人口,可依据
    居住证、房产证、营业执照、劳动合同或租房协议等认定. Seed 001 (Xuancheng): 上传真实清晰的居民户口簿或居住证照片."""
    changzhou = (await ok(system, "policies", "show", "320400", "2024")).splitlines()
    assert "  documents for NON_EMPLOYED: (HOUSEHOLD_REGISTER) + (EMPLOYMENT_REGISTRATION_CARD)" in changzhou
    assert "  channel WECHAT takes payments from 2023-11-01 (R49)" in changzhou, changzhou
    assert "  elderly from age 60" in changzhou
    anqing = (await ok(system, "policies", "show", ANQING, "2024")).splitlines()
    (permit_holder,) = [line for line in anqing if line.startswith("  documents for RESIDENCE_PERMIT_HOLDER: ")]
    for kind in ("RESIDENCE_PERMIT", "PROPERTY_CERTIFICATE", "BUSINESS_LICENCE", "LABOUR_CONTRACT", "RENTAL_AGREEMENT"):
        assert kind in permit_holder, permit_holder
    assert " + " not in permit_holder, "any one of them stands in for the others"
    xuancheng = (await ok(system, "policies", "show", XUANCHENG, "2024")).splitlines()
    assert "  documents for NON_EMPLOYED: (HOUSEHOLD_REGISTER | RESIDENCE_PERMIT)" in xuancheng, xuancheng


async def test_batch_upload_shows_progress_and_every_rows_result(system: System, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    with rows.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["序号", "身份证号码", "姓名", "手机号码", "医保区划", "学校代码", "参保身份", "材料"])
        writer.writerow(["1", unique_resident_id(), "批量一", "13800138000", ANQING, "", "非从业居民", "居民户口簿:d1"])
        writer.writerow(
            ["2", unique_resident_id(), "批量二", "13800138000", ANQING, "", "NON_EMPLOYED", "HOUSEHOLD_REGISTER:d2"]
        )
        writer.writerow(["3", unique_resident_id(), "批量三", "13800138000", ANQING, "", "外星人", ""])
    batch_id = f"cli-{free_port()}"
    done = await medins(system, "batch", "upload", str(rows), "--batch-id", batch_id, "--submitter", "CZ-S001")
    assert done.returncode == 0, done.stderr
    assert "[##############################] 2/2 rows 100%" in done.stderr, done.stderr
    assert f"batch {batch_id}: 3 rows, 2 accepted, 1 refused" in done.stderr
    results = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(r["row_number"], r["outcome"]) for r in results] == [
        ("1", "REGISTERED"),
        ("2", "REGISTERED"),
        ("3", "REFUSED"),
    ]

    template = await ok(system, "batch", "template")
    assert template.startswith("序号,身份证号码")
    missing = await medins(system, "batch", "upload", str(tmp_path / "nope.csv"), "--batch-id", "x", "--submitter", "s")
    assert missing.returncode == 2 and "cannot read" in missing.stderr and "nope.csv" in missing.stderr


async def test_results_export_writes_the_csv_and_the_chart(system: System, tmp_path: Path) -> None:
    table, chart = tmp_path / "results.csv", tmp_path / "results.png"
    done = await medins(
        system, "results", "export", "--year", "2024", "--region", ANQING, "--csv", str(table), "--chart", str(chart)
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert rows[0]["region_code"] == ANQING and rows[0]["breakdown"] == "total"
    assert chart.read_bytes().startswith(b"\x89PNG")


async def test_dlq_list_and_a_queue_that_does_not_exist(system: System) -> None:
    listed = await ok(system, "dlq", "list")
    assert "collection.enrollment-events.dlq:" in listed and "registration.payment-events.dlq:" in listed, listed
    unknown = await medins(system, "dlq", "replay", "--queue", "nope")
    assert unknown.returncode == 2 and "no consumer queue 'nope'" in unknown.stderr, unknown.stderr


async def test_audit_runs_under_medins(system: System) -> None:
    done = await medins(system, "audit", "--allow-dlq")
    # On a shared, busy test system events may be in flight: what matters here is the report, not its verdict.
    assert done.returncode in (0, 1), done.stderr
    assert "receipt" in done.stdout.lower(), done.stdout


async def test_grpc_reflection_calls_and_a_mistyped_field(system: System) -> None:
    listed = await ok(system, "grpc", "list", "--service", "collection")
    assert "medins.collection.v1.CollectionService" in listed.split()
    regions = json.loads(
        await ok(system, "grpc", "call", "medins.registration.v1.RegistrationService/ListRegions", '{"pageSize": 2}')
    )
    assert len(regions["regions"]) == 2
    mistyped = await medins(
        system, "grpc", "call", "medins.registration.v1.RegistrationService/GetEnrollment", '{"enrolmentId": "x"}'
    )
    assert mistyped.returncode == 2
    assert 'has no field named "enrolmentId"' in mistyped.stderr, mistyped.stderr
    unknown = await medins(system, "grpc", "call", "medins.registration.v1.RegistrationService/GetEnrolment", "{}")
    assert unknown.returncode == 2 and "has no method 'GetEnrolment'" in unknown.stderr
    refused = await medins(
        system, "grpc", "call", "medins.registration.v1.RegistrationService/GetEnrollment", '{"enrollmentId": "nope"}'
    )
    assert refused.returncode == 1 and "NOT_FOUND ENROLLMENT_NOT_FOUND" in refused.stderr, refused.stderr


async def test_an_unknown_order_is_one_clean_line(system: System) -> None:
    done = await medins(system, "pay", "no-such-order", "--channel", "wechat", "--payer", unique_resident_id())
    assert done.returncode == 1
    first, second = done.stderr.strip().splitlines()
    assert first.startswith("medins pay: the collection service refused: NOT_FOUND ORDER_NOT_FOUND"), first
    assert second == "  fields: order_id", "a violation that repeats the message is only named"


async def test_a_bad_channel_is_a_usage_error_listing_the_channels(system: System) -> None:
    done = await medins(system, "pay", "any-order", "--channel", "wechatpay", "--payer", unique_resident_id())
    assert done.returncode == 2
    assert "unknown payment channel 'wechatpay'" in done.stderr and "family-mutual-aid" in done.stderr


async def test_a_mistyped_value_names_the_field(system: System) -> None:
    done = await medins(
        system,
        *("register", "--id", unique_resident_id(), "--name", "字段错误", "--region", "34O800"),
        *("--category", "non-employed", "--evidence", "household-register:doc-1"),
    )
    assert done.returncode == 1
    first, second = done.stderr.strip().splitlines()
    assert "INVALID_ARGUMENT INVALID_CHARACTERS" in first and second == "  fields: region_code", done.stderr
    category = await medins(system, "register", "--id", "x", "--name", "y", "--region", ANQING, "--category", "retired")
    assert category.returncode == 2 and "unknown category 'retired'" in category.stderr


async def test_a_service_or_the_broker_down_is_said_plainly(system: System) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    for args in (
        ("order", "show", "o-1", "--payer", unique_resident_id(), "--address", nobody),
        ("check", unique_resident_id(), "--year", "2024", "--address", nobody),
        ("grpc", "list", "--address", nobody),
    ):
        done = await medins(system, *args)
        assert done.returncode == 3, done.stderr
        assert "cannot reach the" in done.stderr and nobody in done.stderr, done.stderr
    broker = await medins(
        system, "dlq", "list", env={"MEDINS_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    )
    assert broker.returncode == 3 and "cannot reach the broker" in broker.stderr, broker.stderr


async def test_help_works_without_the_load_tool(system: System) -> None:
    top = await ok(system, "--help")
    for command in (
        "register",
        "review",
        "stop",
        "age-out",
        "policies",
        "batch",
        "pay",
        "dlq",
        "audit",
        "results",
        "load",
    ):
        assert f"    {command}" in top, command
    load = await medins(system, "load", "--help")
    if (ROOT / "benchmarks" / "load_tool.py").exists():
        assert load.returncode == 0 and "usage: medins load" in load.stdout, load.stderr
    else:
        assert load.returncode == 2 and "benchmarks.load_tool" in load.stderr, load.stderr
