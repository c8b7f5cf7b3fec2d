"""Organizations the caller belongs to, and their members."""

from functools import cached_property

from django.db.models import F, FilteredRelation, Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from crmApp.constants import MembershipStatus
from crmApp.idempotency import AnswersOnlyAfterTheChecks
from crmApp.mixins import CountedRefusalsMixin
from crmApp.models import Membership, Organization
from crmApp.permissions import (
    ANY_MEMBER,
    INTERNAL_MEMBER,
    MEMBERS_MANAGE,
    MEMBERS_MANAGE_OR_SELF,
    OWNER,
    OWNER_OR_ADMIN,
    SIGNED_IN,
    OrganizationAccess,
    organization_rule_allows,
)
from crmApp.query import KnownQueryParametersMixin, takes_no_body
from crmApp.serializers.organization import (
    InvitationSerializer,
    InviteSerializer,
    MemberEntrySerializer,
    MemberUpdateSerializer,
    OrganizationSerializer,
    member_entry_schema,
)
from crmApp.services.organization_service import (
    MemberService,
    create_organization,
    delete_organization,
    update_organization,
)
from crmApp.tenancy import parse_id, resolve_membership

USER_ID_PARAMETER = OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The member's user id.")
INVITATION_ID_PARAMETER = OpenApiParameter(
    "invitation_id", int, OpenApiParameter.PATH, description="The invitation's `invitation_id`."
)


@extend_schema_view(
    list=extend_schema(summary="The organizations the caller is an active member of"),
    create=extend_schema(summary="Create an organization owned by the caller, with default roles and pipeline"),
    retrieve=extend_schema(summary="One organization (any active member)"),
    partial_update=extend_schema(summary="Rename an organization (owner or admin)"),
    destroy=extend_schema(summary="Delete an organization and all its records (owner only)"),
)
class OrganizationViewSet(
    CountedRefusalsMixin,
    KnownQueryParametersMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    AnswersOnlyAfterTheChecks,
    viewsets.GenericViewSet,
):
    """`/api/organizations/`: the tenants themselves, scoped to the caller's active memberships."""

    # Organizations are the tenants, not records owned by one, so the organization-scoped base doesn't
    # apply: the queryset is the caller's memberships and every detail route checks membership itself.
    dangerously_unscoped = "Organizations are the tenants; scoped to the caller's active memberships."
    queryset = Organization.objects.all()
    serializer_class = OrganizationSerializer
    permission_classes = [OrganizationAccess]
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    search_fields = ["name"]
    ordering_fields = ["name", "created_at"]
    ordering = ["name", "id"]
    business_rules = {
        "invite": [
            "the address is already an active member (`already_member`)",
            "the address looks like another account's address (a TS #39 look-alike)",
        ],
        "member": ["the organization's last owner would be demoted (`last_owner`)"],
        "remove_member": ["the organization's last owner would be removed (`last_owner`)"],
    }
    access_rules = {
        "list": SIGNED_IN,
        "create": SIGNED_IN,
        "metadata": SIGNED_IN,
        "retrieve": ANY_MEMBER,
        "update": OWNER_OR_ADMIN,
        "partial_update": OWNER_OR_ADMIN,
        "destroy": OWNER,
        "members": INTERNAL_MEMBER,
        "invite": MEMBERS_MANAGE,
        "member": MEMBERS_MANAGE,
        "remove_member": MEMBERS_MANAGE_OR_SELF,
        "cancel_invitation": MEMBERS_MANAGE,
    }

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Organization.objects.none()
        mine = FilteredRelation(
            "memberships", condition=Q(memberships__user=self.request.user, memberships__status=MembershipStatus.ACTIVE)
        )
        return (
            Organization.objects.filter(is_active=True)
            .annotate(mine=mine)
            .filter(mine__isnull=False)
            .annotate(role=F("mine__role"), profile_type=F("mine__profile_type"))
            .order_by("name", "id")
        )

    @cached_property
    def url_membership(self) -> Membership:
        """The caller's active membership in the organization of the URL; 404 without one."""
        organization_id = parse_id(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field))
        membership = resolve_membership(self.request.user, organization_id) if organization_id else None
        if membership is None:
            raise NotFound()
        return membership

    def get_object(self):
        membership = self.url_membership
        organization = membership.organization
        organization.role, organization.profile_type = membership.role, membership.profile_type
        return organization

    def member_service(self) -> MemberService:
        return MemberService(organization=self.url_membership.organization, actor=self.request.user)

    def _organization_response(self, organization, status_code=status.HTTP_200_OK) -> Response:
        # Re-read through the caller's memberships so `role`/`profile_type` are current.
        organization = self.get_queryset().get(pk=organization.pk)
        return Response(self.get_serializer(organization).data, status=status_code)

    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        organization = create_organization(name=serializer.validated_data["name"], owner=request.user)
        return self._organization_response(organization, status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        serializer = self.get_serializer(self.get_object(), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        organization = update_organization(serializer.instance, **serializer.validated_data)
        return self._organization_response(organization)

    def perform_destroy(self, instance):
        delete_organization(instance)

    def permitted_methods(self) -> list[str]:
        """The methods of this route the caller may use (what OPTIONS advertises)."""
        return [
            method
            for method in self.allowed_methods
            if method == "OPTIONS"
            or (
                (action := self.action_map.get(method.lower())) and organization_rule_allows(self, self.request, action)
            )
        ]

    def options(self, request, *args, **kwargs):
        response = super().options(request, *args, **kwargs)
        self.headers["Allow"] = ", ".join(self.permitted_methods())
        return response

    # --- members ---------------------------------------------------------------------------------
    @extend_schema(
        summary="The organization's members and open invitations (any member but a portal customer)",
        responses=member_entry_schema(many=True),
    )
    @action(detail=True, methods=["get"], serializer_class=MemberEntrySerializer, filter_backends=[], paginated=True)
    def members(self, request, pk=None):
        page = self.paginate_queryset(self.member_service().members())
        return self.get_paginated_response(MemberEntrySerializer(page, many=True).data)

    @extend_schema(
        summary="Invite an address to the organization (members:manage); the invitee accepts the mailed link",
        request=InviteSerializer,
        responses={201: InvitationSerializer},
    )
    @members.mapping.post
    def invite(self, request, pk=None):
        serializer = InviteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = self.member_service().invite(**serializer.validated_data)
        return Response(InvitationSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a member's (or an invitation's) role or profile type (members:manage)",
        parameters=[USER_ID_PARAMETER],
        request=MemberUpdateSerializer,
        responses={200: member_entry_schema()},
    )
    @action(
        detail=True, methods=["patch"], url_path=r"members/(?P<user_id>[0-9]+)", serializer_class=MemberEntrySerializer
    )
    def member(self, request, pk=None, user_id=None):
        serializer = MemberUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        service = self.member_service()
        membership = service.change_member(self._member(service, user_id), **serializer.validated_data)
        return Response(MemberEntrySerializer(membership).data)

    @takes_no_body
    @extend_schema(
        summary="Remove a member or cancel their invitation (members:manage, or the member themselves)",
        parameters=[USER_ID_PARAMETER],
        responses={204: OpenApiResponse(description="Removed; their roles here are dropped.")},
    )
    @member.mapping.delete
    def remove_member(self, request, pk=None, user_id=None):
        service = self.member_service()
        service.remove_member(self._member(service, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @takes_no_body
    @extend_schema(
        summary="Cancel an open invitation by its invitation_id (members:manage)",
        parameters=[INVITATION_ID_PARAMETER],
        responses={204: OpenApiResponse(description="Cancelled; the mailed link no longer works.")},
    )
    @action(detail=True, methods=["delete"], url_path=r"invitations/(?P<invitation_id>[0-9]+)")
    def cancel_invitation(self, request, pk=None, invitation_id=None):
        service = self.member_service()
        invitation_id = parse_id(invitation_id)
        if invitation_id is None:
            raise NotFound()
        service.remove_member(service.get_invitation(invitation_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @staticmethod
    def _member(service: MemberService, user_id) -> Membership:
        user_id = parse_id(user_id)
        if user_id is None:
            raise NotFound()
        return service.get_member(user_id)
