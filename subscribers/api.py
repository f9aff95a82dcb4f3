"""Subscribers in the integration API, and the filters that find people by number or country."""

import unicodedata

from django import forms
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.response import Response

from lib.api import (
    CHANGES_PARAMETERS,
    IntegrationListMixin,
    IntegrationViewSet,
    changes_answer,
    changes_serializer,
    list_schema,
)
from lib.filters import SameTextFilter, TimeFilter
from lib.rest import StrictCharField, StrictModelSerializer
from subscribers.models import (
    SUBSCRIBER_COLUMNS,
    Deletion,
    Subscriber,
    custom_field_summary,
)
from subscribers.phone import InvalidMobile, country_code, normalise_mobile


class CountryField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        code = country_code(value)
        if not code:
            # django-filter %-formats messages: user input goes in params, never the text.
            raise forms.ValidationError("%(value)r is not a country", params={"value": value[:40]})
        return code


class CountryFilter(filters.CharFilter):
    """ "US", "USA" or "United States", as callbacks send it."""

    field_class = CountryField


class PeopleFilterForm(forms.Form):
    """Reads the `mobile` filter as a callback's number is read: in the `country` filter's
    country, else the default one. So "(212) 555-1212" finds +12125551212."""

    def clean(self):
        data = super().clean()
        if data.get("mobile"):
            try:
                data["mobile"] = normalise_mobile(data["mobile"], data.get("country") or "")
            except InvalidMobile as e:
                self.add_error("mobile", forms.ValidationError("%(why)s", params={"why": str(e)}))
        return data


def mobile_filter(field_name: str) -> filters.CharFilter:
    return filters.CharFilter(
        field_name=field_name,
        max_length=40,
        help_text="In any format a person types; read in `country`'s country if given.",
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


def field_name_problem(name: str) -> str:
    """Why a custom field name is refused, or "" when it is fine."""
    if not name.strip():
        return "A field name cannot be blank."
    if len(name) > FIELD_NAME_MAX_LENGTH:
        return f"A field name has at most {FIELD_NAME_MAX_LENGTH} characters."
    if not storable(name) or any(unicodedata.category(char) == "Cc" for char in name):
        return "A field name cannot hold control characters."
    return ""


def storable_value(value: str | None) -> None:
    if value is not None and not storable(value):
        raise serializers.ValidationError("A value cannot hold NUL or lone surrogates.")


class SubscriberSerializer(StrictModelSerializer):
    fields = serializers.DictField(
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
