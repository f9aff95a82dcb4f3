"""The raw callback log in the integration API: read-only, for staff."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.permissions import IsAdminUser

from callbacks.models import CallbackEvent, Outcome
from campaigns.api import IdFilter
from campaigns.models import Kind
from crm.api import TimeFilter
from crm.rest import CSVListMixin, ModelPermissions, csv_list_schema


class CallbackEventFilter(filters.FilterSet):
    endpoint = IdFilter(field_name="endpoint")
    kind = filters.ChoiceFilter(choices=Kind.choices)
    outcome = filters.ChoiceFilter(choices=Outcome.choices)
    received_after = TimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="At or after this time."
    )
    received_before = TimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Before this time."
    )

    class Meta:
        model = CallbackEvent
        fields = ()


class CallbackEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackEvent
        fields = (
            "id",
            "endpoint",
            "kind",
            "method",
            "query_string",
            "body",
            "content_type",
            "remote_addr",
            "received_at",
            "outcome",
            "reason",
        )


@extend_schema_view(**csv_list_schema(CallbackEventSerializer))
class CallbackEventViewSet(CSVListMixin, viewsets.ReadOnlyModelViewSet):
    """Every callback request as it arrived, whatever became of it. Staff only."""

    # Raw requests may carry what the processed rows leave out: staff, with the permission.
    permission_classes = [IsAdminUser, ModelPermissions]
    queryset = CallbackEvent.objects.all()
    serializer_class = CallbackEventSerializer
    filterset_class = CallbackEventFilter
    cursor_ordering = ("-received_at", "-id")
    csv_filename = "callbacks.csv"
    csv_columns = (
        ("id", "id"),
        ("received_at", "received_at"),
        ("endpoint", "endpoint"),
        ("kind", "kind"),
        ("method", "method"),
        ("query_string", "query_string"),
        ("body", "body"),
        ("content_type", "content_type"),
        ("remote_addr", "remote_addr"),
        ("outcome", "outcome"),
        ("reason", "reason"),
    )
