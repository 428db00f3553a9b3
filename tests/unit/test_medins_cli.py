"""`medins` without a running system: the channel payloads `medins pay` builds, argument parsing, how a
refused call is told, the progress bar, and the lazily imported load tool (issue 13). No gRPC channel is
opened here (a blocking channel in the test process would upset the end-to-end suite's asyncio ones)."""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import grpc
import pytest
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as reg

from ops import medins
from ops.channel_sim.dev_keys import ensure_dev_keys
from ops.cli import load, payloads, policies
from ops.cli.errors import EXIT_REFUSED, EXIT_UNREACHABLE, CallFailed, CliError, Refusal, refusal_of
from ops.cli.progress import ProgressBar
from ops.cli.show import enum_arg, parse_range, table
from services.collection.channels import formats
from services.collection.channels.keys import KeyStore
from services.collection.channels.verifiers import ChannelVerifiers
from services.collection.domain.model import Channel
from services.common.clock import CST, FixedClock
from services.common.errors import DomainError, InvalidArgument, NotFound, Unavailable
from services.common.grpc_errors import to_status_proto

ROOT = Path(__file__).resolve().parents[2]
PAID_AT = dt.datetime(2023, 11, 20, 10, 30, 5, tzinfo=CST)


@pytest.fixture(scope="module")
def dev_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("channel-keys")
    ensure_dev_keys(root)
    return root


@pytest.mark.parametrize("channel", list(formats.PARSERS))
def test_every_notifying_channel_gets_a_callback_its_own_verification_believes(
    channel: Channel, dev_keys: Path
) -> None:
    payment = payloads.ChannelPayment(
        order_id="ord-1",
        amount_fen=38001,
        paid_at=PAID_AT.astimezone(dt.UTC),
        transaction_id="tx-0001",
        holder_id_number="11010519491231002X" if channel is Channel.FAMILY_MUTUAL_AID else "",
    )
    headers, body = payloads.callback(channel, payment, dev_keys)
    verifiers = ChannelVerifiers(KeyStore.from_directory(dev_keys / "verify"), FixedClock(PAID_AT))
    parsed = verifiers.verify(channel, headers, body)
    assert (parsed.order_id, parsed.transaction_id, parsed.amount_fen) == ("ord-1", "tx-0001", 38001)
    assert parsed.paid_at == PAID_AT
    if channel is Channel.FAMILY_MUTUAL_AID:
        assert parsed.family_holder_id_number == "11010519491231002X"
    with pytest.raises(DomainError):  # one byte changed
        verifiers.verify(channel, headers, body[:-1] + bytes([body[-1] ^ 1]))


def test_alipay_states_yuan_as_text_and_unionpay_fen(dev_keys: Path) -> None:
    payment = payloads.ChannelPayment("ord-1", 38000, PAID_AT, "tx-1")
    assert b"total_amount=380.00" in payloads.callback(Channel.ALIPAY, payment, dev_keys)[1]
    assert b"txnAmt=38000" in payloads.callback(Channel.BANK_COUNTER, payment, dev_keys)[1]


def test_channel_names_as_typed() -> None:
    assert payloads.channel_named("wechat") is Channel.WECHAT
    assert payloads.channel_named("Bank-Counter") is Channel.BANK_COUNTER
    assert payloads.channel_named("bank") is Channel.BANK_APP
    assert payloads.channel_named("social_security_card") is Channel.SOCIAL_SECURITY_CARD
    with pytest.raises(ValueError, match="unknown payment channel 'subsidy'") as refused:
        payloads.channel_named("subsidy")  # settled by the subsidy, never notified
    assert all(c.value.lower().replace("_", "-") in str(refused.value) for c in formats.PARSERS)


def _parse(*argv: str) -> argparse.Namespace:
    return medins.build_parser(argv[0]).parse_args(argv)


def test_a_mistyped_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        _parse("register", "--id", "x", "--name", "y", "--region", "340800", "--category", "retired")
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "unknown category 'retired'; one of: non-employed, elderly" in err and "Traceback" not in err


def test_arguments_become_proto_values() -> None:
    args = _parse(
        *("policies", "set", "320400", "2027", "--standard", "420.5", "--subsidy", "hardship-low-income=210"),
        *("--window", "2026-09-01..2026-12-31", "--review", "manual"),
    )
    assert (args.standard, args.subsidy) == (42050, [("CATEGORY_HARDSHIP_LOW_INCOME", 21000)])
    assert args.window.start == common_pb2.Date(year=2026, month=9, day=1)
    assert args.review == "REVIEW_MODE_MANUAL"
    stop = _parse("stop", "e-1", "--reason", "joined-employee-insurance")
    assert stop.reason == "STOP_REASON_JOINED_EMPLOYEE_INSURANCE"


@pytest.mark.parametrize("text", ["380.001", "-1", "1e3", "three"])
def test_amounts_are_exact_yuan(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not an amount in yuan"):
        policies.amount(text)


def test_a_range_needs_two_dates() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=r"START\.\.END"):
        parse_range("2026-09-01")
    with pytest.raises(argparse.ArgumentTypeError, match="not a date"):
        parse_range("2026-09-01..2026-13-01")


def test_a_stop_for_age_is_the_systems_own() -> None:
    reasons = enum_arg(reg.StopReason.DESCRIPTOR, "STOP_REASON_", "stop reason", exclude=["AGED_OUT"])
    with pytest.raises(argparse.ArgumentTypeError, match=r"moved-away, joined-employee-insurance, deceased, other$"):
        reasons("aged-out")


def test_policies_set_changes_only_what_is_given() -> None:
    current = reg.RegionPolicy(
        region_code="320400",
        insurance_year=2027,
        version=3,
        individual_standard_fen=42000,
        fiscal_subsidy_fen=64000,
        category_subsidies=[
            reg.CategorySubsidy(category=common_pb2.CATEGORY_HARDSHIP_EXTREME_POVERTY, subsidy_fen=42000),
            reg.CategorySubsidy(category=common_pb2.CATEGORY_HARDSHIP_LOW_INCOME, subsidy_fen=21000),
        ],
        review_mode=common_pb2.REVIEW_MODE_AUTOMATIC,
    )
    args = _parse("policies", "set", "320400", "2027", "--standard", "430", "--subsidy", "hardship-low-income=0")
    changed = policies.changed(current, args)
    assert changed.version == 0, "the server assigns the version"
    assert (changed.individual_standard_fen, changed.fiscal_subsidy_fen) == (43000, 64000)
    assert changed.review_mode == common_pb2.REVIEW_MODE_AUTOMATIC
    assert {s.category: s.subsidy_fen for s in changed.category_subsidies} == {
        common_pb2.CATEGORY_HARDSHIP_EXTREME_POVERTY: 42000,
        common_pb2.CATEGORY_HARDSHIP_LOW_INCOME: 0,
    }
    assert current.individual_standard_fen == 42000, "the current policy is not modified"


def test_policies_set_and_show_carry_the_long_term_terms() -> None:
    """Issue 18 item 1 (R36-R39): `medins policies set --long-term NAME=VALUE` changes one term of the
    long-term mechanism, the optional gap penalty included, and `policies show` states every term."""
    current = reg.RegionPolicy(region_code="320400", insurance_year=2027, version=1)
    current.long_term.enabled = True
    args = _parse(
        *("policies", "set", "320400", "2027", "--long-term", "first_gap_year_counts=true"),
        *("--long-term", "gap_penalty_fen=50000"),
        *("--long-term", "exempt_reasons=RETURNING_GRADUATE,DISCHARGED_SOLDIER"),
        *("--long-term", "raise_cap_percent=20", "--long-term", "scheme_switch_months=3"),
    )
    rules = policies.changed(current, args).long_term
    assert (rules.first_gap_year_counts, rules.gap_penalty_fen, rules.raise_cap_percent) == (True, 50000, 20)
    assert (rules.scheme_switch_months, list(rules.exempt_reasons)) == (3, ["RETURNING_GRADUATE", "DISCHARGED_SOLDIER"])
    shown = "\n".join(policies.long_term_lines(rules))
    assert "the first gap year counts" in shown, shown
    assert "employee insurance ended within 3 months" in shown, shown
    assert "region reasons: RETURNING_GRADUATE, DISCHARGED_SOLDIER" in shown, shown
    assert "raises at most 20%" in shown, shown
    assert "the first year back the cap is 500.00 yuan lower (gap penalty)" in shown, shown
    rules.gap_penalty_fen = 0
    assert "no gap penalty" in "\n".join(policies.long_term_lines(rules))
    with pytest.raises(argparse.ArgumentTypeError, match="is not NAME=VALUE"):
        policies.long_term("gap_penalty=1")


class FakeRpcError(grpc.RpcError, grpc.Call):
    """What a blocking stub raises, with the status our servers put in the trailers."""

    def __init__(self, code: grpc.StatusCode, details: str, error: DomainError | None = None) -> None:
        self._code, self._details = code, details
        self._trailers: list[tuple[str, str | bytes]] = [("x-correlation-id", "c-42")]
        if error is not None:
            self._trailers.append(("grpc-status-details-bin", to_status_proto(error).SerializeToString()))

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> Any:
        return self._trailers

    def initial_metadata(self) -> Any:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> float:
        return 0.0

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


def test_a_refusal_is_code_reason_message_and_fields_in_two_lines() -> None:
    error = InvalidArgument("INVALID_CHARACTERS", "region_code has letters", "含非法字符", field="region_code")
    refusal = refusal_of(FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, error.message, error))
    assert refusal.reason == "INVALID_CHARACTERS" and refusal.violations == (("region_code", error.message),)
    failed = CallFailed("registration", "127.0.0.1:50051", refusal)
    assert failed.status == EXIT_REFUSED
    assert failed.lines() == [
        "the registration service refused: INVALID_ARGUMENT INVALID_CHARACTERS: region_code has letters (含非法字符) "
        "[correlation id c-42]",
        "  fields: region_code",
    ]
    other = Refusal("INVALID_ARGUMENT", "bad request", "MALFORMED", violations=(("a", "too long"), ("b", "empty")))
    assert other.lines() == ["INVALID_ARGUMENT MALFORMED: bad request", "  fields: a: too long; b: empty"]


def test_a_server_that_is_not_there_is_unreachable_but_one_without_its_database_refuses() -> None:
    nobody = CallFailed(
        "collection", "127.0.0.1:9", refusal_of(FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect"))
    )
    assert nobody.status == EXIT_UNREACHABLE
    assert nobody.lines()[0].startswith("cannot reach the collection service at 127.0.0.1:9 (UNAVAILABLE")
    database = Unavailable("DATABASE_UNAVAILABLE", "database unavailable", "数据库不可用")
    answered = CallFailed(
        "collection", "x", refusal_of(FakeRpcError(grpc.StatusCode.UNAVAILABLE, database.message, database))
    )
    assert answered.status == EXIT_REFUSED and "DATABASE_UNAVAILABLE" in answered.lines()[0]
    missing = NotFound("ORDER_NOT_FOUND", "order o-1 not found", "订单不存在")
    assert refusal_of(FakeRpcError(grpc.StatusCode.NOT_FOUND, missing.message, missing)).violations == ()


def test_the_progress_bar_writes_a_line_per_step_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    bar = ProgressBar(5000, "rows", out)
    bar.update(2000)
    bar.update(5000)
    bar.close()
    assert out.getvalue().splitlines() == [
        "[############------------------] 2000/5000 rows  40%",
        "[##############################] 5000/5000 rows 100%",
    ]


def test_tables_align_their_columns() -> None:
    assert table(("A", "LONG"), [("xyz", 1), ("q", 22)]) == ["A    LONG", "xyz  1", "q    22"]


@pytest.fixture
def fake_load_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(load, "MODULE", "tests.unit.fake_load_tool")


@pytest.mark.usefixtures("fake_load_tool")
def test_load_hands_every_argument_to_the_load_tool(capfd: pytest.CaptureFixture[str]) -> None:
    """The tool runs as a program of its own (ops imports nothing of benchmarks), named `medins load`."""
    assert medins.main(["load", "--rate", "300"]) == 7
    assert capfd.readouterr().out == "medins load: rate 300\n"


def test_the_cli_imports_nothing_of_the_benchmarks() -> None:
    """benchmarks imports ops (the audit, the process list); ops never imports benchmarks back."""
    for path in sorted((ROOT / "ops").rglob("*.py")):
        tree = ast.parse(path.read_text())
        imported = [
            name
            for node in ast.walk(tree)
            for name in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
        ]
        assert not [m for m in imported if m.split(".")[0] == "benchmarks"], path
    # The commands imported by name when they run are the CLI's own; the load tool is run as a program.
    assert all(module.startswith("ops.") for _, module, _ in medins.COMMANDS)


def test_load_without_the_tool_says_so(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(load, "MODULE", "benchmarks.no_such_load_tool")
    assert medins.main(["load", "--help"]) == 2
    assert (
        capsys.readouterr().err == "medins load: the load tool (benchmarks.no_such_load_tool) is not in this checkout\n"
    )
    with pytest.raises(CliError):
        load.run(argparse.Namespace(load_args=[]))


def test_help_imports_no_subcommand() -> None:
    """`medins --help` stays fast: matplotlib, asyncpg and aio-pika load only for the commands using them."""
    code = (
        "import sys, contextlib, io\n"
        "from ops import medins\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    medins.main(['--help'])\n"
        "heavy = [m for m in ('matplotlib', 'asyncpg', 'aio_pika', 'ops.cli.pay', 'benchmarks') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
