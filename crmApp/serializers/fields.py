"""Serializer fields and the model-serializer base shared by the resources."""

from collections.abc import Mapping
from datetime import UTC, timedelta
from decimal import Decimal

from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from crmApp.constants import MONEY_DIGITS, MONEY_PLACES, MembershipStatus
from crmApp.identity import TOO_LONG_SKELETON, normalize_email, skeleton_fits
from crmApp.models import User
from crmApp.tenancy import Tenant, get_tenant, parse_id

# The widest UTC offset PostgreSQL reads; real time zones stay within ±14:00.
MAX_UTC_OFFSET = timedelta(hours=15, minutes=59)


class StrictStringMixin:
    """Refuses numbers, booleans, lists and objects where text is expected (DRF would turn 5 into "5")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(StrictStringMixin, serializers.CharField):
    """A CharField that accepts only JSON strings."""


class StrictEmailField(StrictStringMixin, serializers.EmailField):
    """An EmailField that accepts only JSON strings."""


class StrictURLField(StrictStringMixin, serializers.URLField):
    """A URLField that accepts only JSON strings."""


class MoneyField(serializers.DecimalField):
    """An amount as the API takes it: at most 12 digits before the point and 2 after, never negative.

    A negative zero (`"-0"`, `-0.0`) is zero: kept as sent it showed as `"-0.00"` in the answer and the history.
    """

    def __init__(self, **kwargs):
        kwargs = {"max_digits": MONEY_DIGITS, "decimal_places": MONEY_PLACES, "min_value": Decimal(0), **kwargs}
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        return abs(value) if value is not None and value.is_zero() else value


def identity_fits(value: str | None) -> None:
    """An address or username whose comparison key (its skeleton) overflows its column is too long."""
    if value and not skeleton_fits(value):
        raise serializers.ValidationError(TOO_LONG_SKELETON, code="max_length")


class AccountEmailField(StrictEmailField):
    """The address of an account: NFKC-normalised and lower-cased before it is validated and stored."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.validators.append(identity_fits)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = normalize_email(data)
        return super().to_internal_value(data)


class KnownFieldsMixin:
    """A body field the serializer doesn't have is a 400 naming it, never silently dropped (a typo, say).

    Read-only fields are known: a client may send a record back as it read it. A body whose answer has a
    serializer of its own names it in `answered_by`: that answer's fields may be sent back too, and are ignored.
    """

    answered_by: tuple[type[serializers.Serializer], ...] = ()

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            shown = {name for answer in self.answered_by for name in answer().fields}
            unknown = sorted(set(data) - set(self.fields) - shown)
            if unknown:
                raise serializers.ValidationError({key: ["This field is not part of this request."] for key in unknown})
        return super().to_internal_value(data)


class InputSerializer(KnownFieldsMixin, serializers.Serializer):
    """A request body of fields, with unknown fields refused."""


class StrictModelSerializer(KnownFieldsMixin, serializers.ModelSerializer):
    """A ModelSerializer whose text columns take JSON strings only and whose unknown fields are refused."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
    }


def context_tenant(field) -> Tenant | None:
    """The tenant a serializer validates for: given in its context (imports), or the request's."""
    if getattr(field.parent, "swagger_fake_view", False):
        return None
    tenant = field.context.get("tenant")
    if tenant is None and field.context.get("request") is not None:
        tenant = get_tenant(field.context["request"])
    return tenant


class ScopedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A writable foreign key that resolves ids only inside the active organization.

    An id of another organization is "does not exist" on that field (a 400), exactly like a missing id.
    `organization_lookup` is the ORM path from the related model to its organization.
    """

    def __init__(self, *, organization_lookup: str = "organization", **kwargs):
        self.organization_lookup = organization_lookup
        super().__init__(**kwargs)

    def get_queryset(self):
        queryset = super().get_queryset()
        tenant = context_tenant(self)
        if tenant is None:
            return queryset.none()
        # A record outside the caller's record scope can't be linked either: it doesn't exist for them.
        return tenant.visible(queryset.filter(**{self.organization_lookup: tenant.organization}))

    def run_validation(self, data=serializers.empty):
        if data == "":  # DRF would take "" for null; an id field takes an id or null
            self.fail("incorrect_type", data_type="str")
        return super().run_validation(data)

    def to_internal_value(self, data):
        pk = parse_id(data)
        if pk is None:
            self.fail("incorrect_type", data_type=type(data).__name__)
        return self.kept_link(pk) or super().to_internal_value(data)

    def kept_link(self, pk: int):
        """The record the instance already links to, when `pk` names it, else None.

        Keeping a link is not making one: a form sends back a deal whose customer is outside the caller's
        record scope as it read it, and that must not be refused as a link to a record they can't see.
        """
        instance = getattr(self.parent, "instance", None)
        if not isinstance(instance, models.Model) or len(self.source_attrs) != 1:
            return None
        try:
            attname = instance._meta.get_field(self.source).attname
        except FieldDoesNotExist:
            return None
        return getattr(instance, self.source) if getattr(instance, attname) == pk else None


class ActiveMemberField(ScopedPrimaryKeyRelatedField):
    """A user id that must be an active member of the active organization."""

    default_error_messages = {"does_not_exist": "User {pk_value} is not an active member of this organization."}

    def __init__(self, **kwargs):
        super().__init__(queryset=User.objects.all(), **kwargs)

    def get_queryset(self):
        tenant = context_tenant(self)
        if tenant is None:
            return User.objects.none()
        # One filter() call, so both conditions apply to the same membership row.
        return User.objects.filter(
            memberships__organization=tenant.organization, memberships__status=MembershipStatus.ACTIVE
        )


class MomentField(serializers.DateTimeField):
    """A date-time the database can store: years 1 to 9999 in UTC, offsets within ±15:59; kept in UTC."""

    default_error_messages = {"range": "Enter a moment between the years 1 and 9999 (UTC), offset within ±15:59."}

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None  # DRF's own parsing says what is wrong with it
            if parsed is not None and parsed.utcoffset() is not None and abs(parsed.utcoffset()) > MAX_UTC_OFFSET:
                self.fail("range")
        try:
            return super().to_internal_value(value).astimezone(UTC)
        except OverflowError:
            self.fail("range")
