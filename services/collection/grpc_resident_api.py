"""CollectionService RPCs residents reach through a channel app or a tax desk: family mutual-aid account
bindings (R46). A mixin of the servicer (services/collection/grpc_api.py), kept apart so neither file
grows past its size: translate, call the use case, respond."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc
from medins.collection.v1 import collection_service_pb2 as pb

from services.collection.domain.agreements import Relationship
from services.collection.domain.family import FamilyMember
from services.collection.handlers import family
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import Clock
from services.common.mutations import run_mutation
from services.common.proto_values import enum_from_proto, enum_to_proto, timestamp

Context = grpc.aio.ServicerContext[Any, Any]


class ResidentApi:
    """Needs the servicer's unit-of-work factory and clock."""

    _uow: Callable[[], CollectionUnitOfWork]
    _clock: Clock

    # -- family mutual-aid account bindings (R46) --------------------------------------------------

    async def BindFamilyMember(
        self, request: pb.BindFamilyMemberRequest, context: Context
    ) -> pb.BindFamilyMemberResponse:
        relationship = enum_from_proto(
            Relationship, pb.Relationship, request.relationship, prefix="RELATIONSHIP_", field="relationship"
        )
        assert relationship is not None

        async def action(uow: CollectionUnitOfWork) -> pb.BindFamilyMemberResponse:
            member = await family.bind_member(
                request.holder_id_number,
                request.holder_name,
                request.member_id_number,
                request.member_name,
                relationship,
                uow,
                self._clock,
            )
            return pb.BindFamilyMemberResponse(member=family_member_to_proto(member))

        return await run_mutation(self._uow, "BindFamilyMember", request, pb.BindFamilyMemberResponse, action)

    async def UnbindFamilyMember(
        self, request: pb.UnbindFamilyMemberRequest, context: Context
    ) -> pb.UnbindFamilyMemberResponse:
        async def action(uow: CollectionUnitOfWork) -> pb.UnbindFamilyMemberResponse:
            member = await family.unbind_member(
                request.holder_id_number, request.holder_name, request.member_id_number, uow, self._clock
            )
            return pb.UnbindFamilyMemberResponse(member=family_member_to_proto(member))

        return await run_mutation(self._uow, "UnbindFamilyMember", request, pb.UnbindFamilyMemberResponse, action)

    async def ListFamilyMembers(
        self, request: pb.ListFamilyMembersRequest, context: Context
    ) -> pb.ListFamilyMembersResponse:
        async with self._uow().for_reading() as uow:
            found = await family.members(request.holder_id_number, uow, self._clock)
        return pb.ListFamilyMembersResponse(members=[family_member_to_proto(m) for m in found])


def family_member_to_proto(member: FamilyMember) -> pb.FamilyMember:
    return pb.FamilyMember(
        holder_id_number=member.holder_id_number,
        holder_name=member.holder_name,
        member_id_number=member.member_id_number,
        member_name=member.member_name,
        relationship=enum_to_proto(pb.Relationship, member.relationship, prefix="RELATIONSHIP_"),
        bind_time=timestamp(member.bound_at),
    )
