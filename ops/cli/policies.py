"""`medins policies`: region policies (R2). Each change is a new version; `set` starts from the current
version and changes only what is given.

    medins policies list [--region 320400]
    medins policies show 320400 2027 [--version 1]
    medins policies set 320400 2027 --standard 420.00 --subsidy hardship-low-income=210.00 \
        --window 2026-09-01..2026-12-31 --benefit 2027-01-01..2027-12-31 --review automatic
    medins policies set 320400 2027 --long-term first_gap_year_counts=true --long-term fixed_wait_months=3
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import grpc
from medins.common.v1 import common_pb2
from medins.registration.v1 import registration_service_pb2 as pb

from ops.cli import services
from ops.cli.errors import CliError
from ops.cli.show import (
    add_json,
    choices,
    date_text,
    emit,
    enum_arg,
    enum_name,
    parse_range,
    range_text,
    table,
    time_text,
    value_names,
    yuan,
)
from services.common.money import fen_from_yuan_text

REVIEW = enum_arg(common_pb2.ReviewMode.DESCRIPTOR, "REVIEW_MODE_", "review mode")
CATEGORY = enum_arg(common_pb2.Category.DESCRIPTOR, "CATEGORY_", "category")
PAGE_SIZE = 1000


def amount(text: str) -> int:
    """Yuan with at most two decimals, as fen (argparse type; never through a float, R3)."""
    try:
        return int(fen_from_yuan_text(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount in yuan such as 380.00") from None


def subsidy(text: str) -> tuple[str, int]:
    """CATEGORY=YUAN, e.g. hardship-low-income=190.00."""
    category, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not CATEGORY=YUAN, e.g. hardship-low-income=190.00")
    return CATEGORY(category), amount(value)


_RULES = pb.LongTermRules.DESCRIPTOR.fields_by_name
_BOOLEAN = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}


def long_term(text: str) -> tuple[str, object]:
    """NAME=VALUE for one of the long-term mechanism's terms (R36-R39), e.g. first_gap_year_counts=true."""
    name, sep, value = text.partition("=")
    name = name.strip().replace("-", "_")
    field = _RULES.get(name)
    if not sep or field is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE with NAME one of: {', '.join(sorted(_RULES))}")
    value = value.strip()
    if name == "exempt_reasons":
        return name, [v.strip() for v in value.split(",") if v.strip()]
    if field.type == field.TYPE_BOOL:
        if value.lower() not in _BOOLEAN:
            raise argparse.ArgumentTypeError(f"{name} takes true or false, not {value!r}")
        return name, _BOOLEAN[value.lower()]
    try:
        return name, int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name} takes a whole number, not {value!r}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{list,show,set}")
    listed = actions.add_parser("list", help="the current policy version of every year of a region")
    listed.add_argument("--region", default="", help="region code (default: every region)")
    show = actions.add_parser("show", help="one region's policy for a year")
    show.add_argument("region")
    show.add_argument("year", type=int)
    show.add_argument("--version", type=int, default=0, help="a past version (default: the current one)")
    change = actions.add_parser("set", help="store a new version of a region's policy for a year")
    change.add_argument("region")
    change.add_argument("year", type=int)
    change.add_argument("--standard", type=amount, metavar="YUAN", help="individual standard (个人缴费标准)")
    change.add_argument("--fiscal-subsidy", type=amount, metavar="YUAN", help="fiscal subsidy per person")
    change.add_argument("--newborn-standard", type=amount, metavar="YUAN", help="a newborn's current-year standard")
    change.add_argument(
        "--subsidy",
        type=subsidy,
        action="append",
        default=[],
        metavar="CATEGORY=YUAN",
        help="a category's subsidy, repeatable; category one of: "
        + choices(value_names(common_pb2.Category.DESCRIPTOR, "CATEGORY_")),
    )
    change.add_argument("--window", type=parse_range, metavar="START..END", help="collection window (CST dates)")
    change.add_argument("--benefit", type=parse_range, metavar="START..END", help="benefit period")
    change.add_argument(
        "--review",
        type=REVIEW,
        help="review mode: " + choices(value_names(common_pb2.ReviewMode.DESCRIPTOR, "REVIEW_MODE_")),
    )
    change.add_argument("--review-grace-days", type=int, help="days a manual review may take past the window")
    change.add_argument(
        "--long-term",
        type=long_term,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a term of the long-term enrollment mechanism (R36-R39), repeatable; amounts in fen; NAME one of: "
        + ", ".join(sorted(_RULES)),
    )
    services.add_request_id(change)
    for action in (listed, show, change):
        services.add_address(action, services.REGISTRATION)
        add_json(action)


def describe(policy: pb.RegionPolicy) -> list[str]:
    review = enum_name("REVIEW_MODE_", common_pb2.ReviewMode.Name(policy.review_mode))
    lines = [
        f"region {policy.region_code}, year {policy.insurance_year}, version {policy.version}"
        + (" (demo figures)" if policy.demo_data else ""),
        f"  individual standard {yuan(policy.individual_standard_fen)}, fiscal subsidy "
        f"{yuan(policy.fiscal_subsidy_fen)}, newborn standard {yuan(policy.newborn_standard_fen)}",
        f"  collection window {range_text(policy.collection_window)}, "
        f"benefit period {range_text(policy.benefit_period)}",
        f"  review {review}"
        + (f", grace {policy.review_grace_days} days" if policy.HasField("review_grace_days") else "")
        + f", stored {time_text(policy.create_time)}",
    ]
    lines += [
        f"  subsidy {enum_name('CATEGORY_', common_pb2.Category.Name(s.category))}: {yuan(s.subsidy_fen)}"
        for s in policy.category_subsidies
    ]
    return lines + evidence_lines(policy) + long_term_lines(policy.long_term)


def evidence_lines(policy: pb.RegionPolicy) -> list[str]:
    """R45: the documents each listed category needs there (one of each group; | means or)."""
    lines = [f"  elderly from age {policy.elderly_age}"] if policy.HasField("elderly_age") else []
    for rule in policy.evidence_rules:
        category = enum_name("CATEGORY_", common_pb2.Category.Name(rule.category))
        groups = [
            " | ".join(enum_name("EVIDENCE_KIND_", pb.EvidenceKind.Name(k)) for k in group.any_of)
            for group in rule.groups
        ]
        lines.append(f"  documents for {category}: " + (" + ".join(f"({g})" for g in groups) or "none"))
    if not policy.evidence_rules:
        lines.append("  documents: the defaults for every category")
    for opening in policy.channel_openings:
        channel = enum_name("PAYMENT_CHANNEL_", common_pb2.PaymentChannel.Name(opening.channel))
        lines.append(f"  channel {channel} takes payments from {date_text(opening.opens_on)} (R49)")
    return lines


def long_term_lines(rules: pb.LongTermRules) -> list[str]:
    """The long-term mechanism's terms (R36-R39) in an officer's words."""
    if not rules.enabled:
        return ["  long-term mechanism: off (sold on the rules before 2025: window only, no waiting period)"]
    counting = "counts" if rules.first_gap_year_counts else "does not count"
    exempt = ", ".join(rules.exempt_reasons) or "none"
    return [
        "  long-term mechanism (R36-R39): off-window enrollment " + ("on" if rules.off_window_enrollment else "off"),
        f"  wait: fixed {rules.fixed_wait_months} months + {rules.variable_wait_months_per_gap_year} per further "
        f"gap year (the first gap year {counting}), gaps counted from {rules.gap_counting_from_year}",
        f"  exempt: newborns, subsidised hardship, employee insurance ended within {rules.scheme_switch_months} "
        f"months; region reasons: {exempt}",
        f"  repair: {'subsidised' if rules.repair_subsidised else 'at the individual standard'}, wait never under "
        f"{rules.repaired_wait_floor_months} months after a gap of {rules.floor_gap_years}+ years",
        f"  incentive: serious-illness cap {yuan(rules.base_serious_illness_cap_fen)}, after "
        f"{rules.incentive_after_continuous_years} continuous years +{yuan(rules.continuous_step_fen)} a year, "
        f"+{yuan(rules.zero_claim_step_fen)} per zero-claim year, raises at most {rules.raise_cap_percent}%",
        "  after a gap: the raises reset, "
        + (
            f"and the first year back the cap is {yuan(rules.gap_penalty_fen)} lower (gap penalty)"
            if rules.gap_penalty_fen
            else "no gap penalty"
        ),
    ]


def listing(policies: Sequence[pb.RegionPolicy]) -> list[str]:
    if not policies:
        return ["(none)"]
    return table(
        ("REGION", "YEAR", "VERSION", "STANDARD", "WINDOW", "REVIEW", "DEMO"),
        [
            (
                p.region_code,
                p.insurance_year,
                p.version,
                yuan(p.individual_standard_fen),
                range_text(p.collection_window),
                enum_name("REVIEW_MODE_", common_pb2.ReviewMode.Name(p.review_mode)),
                "yes" if p.demo_data else "",
            )
            for p in policies
        ],
    )


def changed(current: pb.RegionPolicy, args: argparse.Namespace) -> pb.RegionPolicy:
    """The current policy with what the command line gives changed; the version is assigned by the server."""
    policy = pb.RegionPolicy()
    policy.CopyFrom(current)
    policy.region_code, policy.insurance_year = args.region, args.year
    policy.ClearField("version")
    policy.ClearField("create_time")
    for name in ("standard", "fiscal_subsidy", "newborn_standard"):
        value = getattr(args, name)
        if value is not None:
            setattr(policy, {"standard": "individual_standard_fen"}.get(name, f"{name}_fen"), value)
    if args.window is not None:
        policy.collection_window.CopyFrom(args.window)
    if args.benefit is not None:
        policy.benefit_period.CopyFrom(args.benefit)
    if args.review is not None:
        policy.review_mode = common_pb2.ReviewMode.Value(args.review)
    if args.review_grace_days is not None:
        policy.review_grace_days = args.review_grace_days
    for name, value in args.long_term:
        if isinstance(value, list):
            del getattr(policy.long_term, name)[:]
            getattr(policy.long_term, name).extend(value)
        else:
            setattr(policy.long_term, name, value)
    subsidies = {s.category: s.subsidy_fen for s in policy.category_subsidies}
    subsidies.update({common_pb2.Category.Value(c): fen for c, fen in args.subsidy})
    del policy.category_subsidies[:]
    policy.category_subsidies.extend(
        pb.CategorySubsidy(category=c, subsidy_fen=f) for c, f in sorted(subsidies.items())
    )
    return policy


def run(args: argparse.Namespace) -> int:
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.registration(args) as stub:
        if args.action == "list":
            response = pb.ListRegionPoliciesResponse()
            token = ""
            while True:
                page = stub.ListRegionPolicies(
                    pb.ListRegionPoliciesRequest(region_code=args.region, page_size=PAGE_SIZE, page_token=token),
                    timeout=timeout,
                )
                response.policies.extend(page.policies)
                token = page.next_page_token
                if not token:
                    break
            emit(args, response, listing(response.policies))
            return 0
        if args.action == "show":
            shown = stub.GetRegionPolicy(
                pb.GetRegionPolicyRequest(region_code=args.region, insurance_year=args.year, version=args.version),
                timeout=timeout,
            )
            emit(args, shown, describe(shown.policy))
            return 0
        try:
            current = stub.GetRegionPolicy(
                pb.GetRegionPolicyRequest(region_code=args.region, insurance_year=args.year), timeout=timeout
            ).policy
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.NOT_FOUND:
                raise
            current = pb.RegionPolicy()
            if args.standard is None or args.window is None or args.benefit is None or args.review is None:
                raise CliError(
                    f"region {args.region} has no policy for {args.year} yet: give at least --standard, --window, "
                    "--benefit and --review"
                ) from None
        stored = stub.SetRegionPolicy(
            pb.SetRegionPolicyRequest(request_id=services.request_id(args), policy=changed(current, args)),
            timeout=timeout,
        )
        emit(args, stored, describe(stored.policy))
    return 0
