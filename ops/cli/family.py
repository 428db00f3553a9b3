"""`medins family`: bind family members to a family mutual-aid account (绑定家庭共济关系, R46). The account
pays only for the members bound to it; the holder and each member are named by ID number and name (R18).

medins family bind --holder 320402197001017599 --holder-name 王大 --member 340802201001011234 \\
    --member-name 王小 --relationship child
medins family list --holder 320402197001017599
medins family unbind --holder 320402197001017599 --holder-name 王大 --member 340802201001011234
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from medins.collection.v1 import collection_service_pb2 as pb

from ops.cli import services
from ops.cli.show import add_json, choices, emit, enum_name, time_text
from services.common.resident_id import mask

RELATIONSHIPS = ("parent", "spouse", "child", "other-relative")


def relationship(text: str) -> pb.Relationship.ValueType:
    name = text.strip().lower()
    if name not in RELATIONSHIPS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {choices(RELATIONSHIPS)}")
    return pb.Relationship.Value("RELATIONSHIP_" + name.upper().replace("-", "_"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="{bind,list,unbind}")
    bind = actions.add_parser("bind", help="bind a family member to the holder's account")
    listed = actions.add_parser("list", help="the members bound to the holder's account")
    unbind = actions.add_parser("unbind", help="unbind a family member: the account no longer pays for them")
    for action in (bind, listed, unbind):
        action.add_argument("--holder", required=True, help="the account holder's resident ID number")
    for action in (bind, unbind):
        action.add_argument("--holder-name", required=True, help="the account holder's name")
        action.add_argument("--member", required=True, help="the family member's resident ID number")
    bind.add_argument("--member-name", required=True, help="the family member's name (must match)")
    bind.add_argument(
        "--relationship",
        type=relationship,
        required=True,
        help="the member to the holder: " + choices(RELATIONSHIPS),
    )
    for action in (bind, listed, unbind):
        services.add_address(action, services.COLLECTION)
        add_json(action)
    for action in (bind, unbind):
        services.add_request_id(action)


def member_line(member: pb.FamilyMember) -> str:
    return (
        f"{mask(member.member_id_number)} {member.member_name} "
        f"({enum_name('RELATIONSHIP_', pb.Relationship.Name(member.relationship)).lower()}), "
        f"bound {time_text(member.bind_time)}"
    )


def listing(holder: str, members: Iterable[pb.FamilyMember]) -> list[str]:
    lines = [member_line(m) for m in members]
    if not lines:
        return [f"no family member is bound to the account of {mask(holder)}: bind one with `medins family bind`"]
    return [f"bound to the family mutual-aid account of {mask(holder)}:", *(f"  {line}" for line in lines)]


def run(args: argparse.Namespace) -> int:
    timeout = services.DEFAULT_TIMEOUT_SECONDS
    with services.collection(args) as stub:
        if args.action == "bind":
            bound = stub.BindFamilyMember(
                pb.BindFamilyMemberRequest(
                    request_id=services.request_id(args),
                    holder_id_number=args.holder,
                    holder_name=args.holder_name,
                    member_id_number=args.member,
                    member_name=args.member_name,
                    relationship=args.relationship,
                ),
                timeout=timeout,
            )
            emit(args, bound, [f"bound: {member_line(bound.member)}"])
        elif args.action == "unbind":
            removed = stub.UnbindFamilyMember(
                pb.UnbindFamilyMemberRequest(
                    request_id=services.request_id(args),
                    holder_id_number=args.holder,
                    holder_name=args.holder_name,
                    member_id_number=args.member,
                ),
                timeout=timeout,
            )
            emit(args, removed, [f"unbound: {member_line(removed.member)}"])
        else:
            listed = stub.ListFamilyMembers(pb.ListFamilyMembersRequest(holder_id_number=args.holder), timeout=timeout)
            emit(args, listed, listing(args.holder, listed.members))
    return 0
