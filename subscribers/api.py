"""Subscribers in the integration API, and the filters that find people by number or country."""

import re

from django import forms
from django.core.validators import RegexValidator
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.response import Response

from lib.api import (
    BODY_TEXT,
    CHANGES_PARAMETERS,
    IntegrationListMixin,
    IntegrationViewSet,
    changes_answer,
    changes_serializer,
    list_schema,
)
from lib.filters import SameTextFilter, TimeFilter
from lib.rest import StrictCharField, StrictModelSerializer
from subscribers.custom_fields import custom_field_summary
from subscribers.models import SUBSCRIBER_COLUMNS, Deletion, Subscriber
from subscribers.phone import InvalidMobile, country_code, country_codes, normalise_mobile

# The `country` filter takes a country's ISO code, alpha-2 as the API answers it ("US") or
# alpha-3 as Sumotext sends it ("USA"): an enum in the schema, and exactly that on the server.
COUNTRY_CODES = frozenset(country_codes())
COUNTRY_SCHEMA = {"type": "string", "enum": sorted(COUNTRY_CODES)}


class CountryField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if value and value not in COUNTRY_CODES:
            # django-filter %-formats messages: user input goes in params, never the text.
            raise forms.ValidationError(
                "%(value)r is not a country's ISO code, e.g. US or USA",
                params={"value": value[:40]},
            )
        return country_code(value) if value else value


@extend_schema_field(COUNTRY_SCHEMA)
class CountryFilter(filters.CharFilter):
    """ "US" or "USA"."""

    field_class = CountryField


# A number as people type it: digits, spaces, ( ) . - and a leading +. One of that shape that
# is no valid number (too short, not in use in the country) is no subscriber's: no rows.
MOBILE_PATTERN = r"^\+?[0-9 ().-]*[0-9][0-9 ().-]*$"
MOBILE_MAX_LENGTH = 40


class PeopleFilterForm(forms.Form):
    """Reads the `mobile` filter as a callback's number is read: in the `country` filter's
    country, else the default one. So "(212) 555-1212" finds +12125551212."""

    def clean(self):
        data = super().clean()
        if data.get("mobile"):
            try:
                data["mobile"] = normalise_mobile(data["mobile"], data.get("country") or "")
            except InvalidMobile:
                # Compared as typed: stored numbers are valid E.164, so it matches none.
                data["mobile"] = data["mobile"].strip()
        return data


class MobileField(forms.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=MOBILE_MAX_LENGTH, strip=False, **kwargs)
        self.validators.append(
            RegexValidator(
                MOBILE_PATTERN,
                "Not a phone number: digits, spaces, ( ) . - and a leading + only.",
            )
        )


@extend_schema_field({"type": "string", "pattern": MOBILE_PATTERN, "maxLength": MOBILE_MAX_LENGTH})
class MobileFilter(filters.CharFilter):
    field_class = MobileField


def mobile_filter(field_name: str) -> MobileFilter:
    return MobileFilter(
        field_name=field_name,
        help_text="In any format a person types; read in `country`'s country if given. "
        "A number no subscriber can have (not valid there) matches no rows.",
    )


class SubscriberFilter(filters.FilterSet):
    mobile = mobile_filter("mobile")
    country = CountryFilter(field_name="country")
    carrier = SameTextFilter(field_name="carrier", help_text="In any case.")
    updated_since = TimeFilter(
        field_name="updated_at",
        lookup_expr="gte",
        help_text="Changed at or after this time: pass the start of your last sync.",
    )

    class Meta:
        model = Subscriber
        fields = ()
        form = PeopleFilterForm


# Custom field names become CSV and XLSX column headers and JSON keys: short, printable text.
FIELD_NAME_MAX_LENGTH = 100


def storable(text: str) -> bool:
    """Text every database can keep: no NUL (PostgreSQL refuses it) and no lone surrogate
    halves (JSON may escape one, "\\ud800", but it is no character UTF-8 can encode)."""
    return "\x00" not in text and not any("\ud800" <= char <= "\udfff" for char in text)


# What the schema says of a field name (propertyNames), and what the server checks, as JSON
# Schema reads a pattern (re.search): no control character (C0, DEL, C1) and a character
# that is neither space nor control. Character classes only, as every regex dialect and
# generator reads them alike.
CONTROL = r"\x00-\x1f\x7f-\x9f"
SPACE = r" \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
FIELD_NAME_PATTERN = f"^[^{CONTROL}]*[^{CONTROL}{SPACE}][^{CONTROL}]*$"
FIELD_NAME_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": FIELD_NAME_MAX_LENGTH,
    "pattern": FIELD_NAME_PATTERN,
}


def field_name_problem(name: str) -> str:
    """Why a custom field name is refused, or "" when it is fine."""
    if len(name) > FIELD_NAME_MAX_LENGTH:
        return f"A field name has at most {FIELD_NAME_MAX_LENGTH} characters."
    # fullmatch: Python's "$" also matches before a final newline, JSON Schema's does not.
    if re.fullmatch(FIELD_NAME_PATTERN, name) and storable(name):
        return ""
    if not name.strip():
        return "A field name cannot be blank."
    return "A field name cannot hold control characters."


@extend_schema_field(
    {
        "type": "object",
        "propertyNames": FIELD_NAME_SCHEMA,
        # A value may be blank (it removes the field), but holds no NUL, as any body text.
        "additionalProperties": {
            "type": ["string", "null"],
            "maxLength": 1000,
            "pattern": BODY_TEXT,
        },
    }
)
class CustomFieldsField(serializers.DictField):
    pass


def storable_value(value: str | None) -> None:
    if value is not None and not storable(value):
        raise serializers.ValidationError("A value cannot hold NUL or lone surrogates.")


class SubscriberSerializer(StrictModelSerializer):
    """A subscriber: who they are is read-only; custom fields can change."""

    fields = CustomFieldsField(
        child=StrictCharField(
            allow_null=True, allow_blank=True, max_length=1000, validators=[storable_value]
        ),
        help_text="Custom fields. On update, named fields are set; null or blank removes one. "
        f"Names: up to {FIELD_NAME_MAX_LENGTH} characters, no control characters.",
    )

    class Meta:
        model = Subscriber
        fields = (
            "id",
            "mobile",
            "country",
            "carrier",
            "fields",
            "first_seen_at",
            "last_seen_at",
            "updated_at",
        )
        read_only_fields = (
            "mobile",
            "country",
            "carrier",
            "first_seen_at",
            "last_seen_at",
            "updated_at",
        )

    def validate_fields(self, value: dict) -> dict:
        problems = {}
        for name in value:
            if why := field_name_problem(name):
                # Echoed back cut short and encodable, so the answer itself is valid JSON.
                shown = name[:FIELD_NAME_MAX_LENGTH].encode("utf-8", "replace").decode()
                problems.setdefault(shown, why)
        if problems:
            raise serializers.ValidationError(problems)
        return value

    def update(self, instance: Subscriber, validated_data: dict) -> Subscriber:
        if "fields" in validated_data:
            instance.set_fields(validated_data["fields"])
        return instance


@extend_schema_view(**list_schema(SubscriberSerializer))
class SubscriberViewSet(
    IntegrationListMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    IntegrationViewSet,
):
    """People who sent a callback, once per mobile number. Only custom fields can change."""

    queryset = Subscriber.objects.all()
    serializer_class = SubscriberSerializer
    filterset_class = SubscriberFilter
    # Most recently changed first: an incremental sync pages with updated_since.
    cursor_ordering = ("-updated_at", "-id")
    csv_filename = "subscribers.csv"
    csv_columns = (("id", "id"), *SUBSCRIBER_COLUMNS, ("updated_at", "updated_at"))
    csv_json_field = "fields"


class CustomFieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    subscribers = serializers.IntegerField(help_text="Subscribers who have this field.")
    last_seen_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The latest time a subscriber who has it was seen; null if an import brought "
        "them all and no callback of theirs has come yet.",
    )


@extend_schema_view(list=extend_schema(responses=CustomFieldSerializer(many=True)))
class CustomFieldViewSet(mixins.ListModelMixin, IntegrationViewSet):
    """Every custom field name subscribers have, by name: to map fields before a sync."""

    queryset = Subscriber.objects.none()  # for the permission: view subscriber
    pagination_class = None
    filter_backends = []

    def list(self, request, *args, **kwargs):
        return Response(CustomFieldSerializer(custom_field_summary(), many=True).data)


class DeletionSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="object_id", help_text="The deleted row's id.")

    class Meta:
        model = Deletion
        fields = ("resource", "id", "deleted_at")


@extend_schema_view(
    list=extend_schema(
        parameters=CHANGES_PARAMETERS, responses=changes_serializer(DeletionSerializer)
    )
)
class DeletionViewSet(mixins.ListModelMixin, IntegrationViewSet):
    """Rows deleted from any resource (in the admin, or with their subscriber), oldest first:
    read them with `after` as you read a resource's changes/."""

    queryset = Deletion.objects.all()
    serializer_class = DeletionSerializer
    is_feed = True
    pagination_class = None
    filter_backends = []
    query_params = ("after", "page_size")

    def list(self, request, *args, **kwargs):
        return changes_answer(request, self.get_queryset(), self.get_serializer)
