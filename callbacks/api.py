"""The raw callback log in the integration API: read-only, for staff."""

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.permissions import IsAdminUser

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Kind
from lib.api import IntegrationListMixin, IntegrationViewSet, list_schema
from lib.filters import IdFilter, TimeFilter
from lib.rest import ModelPermissions


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


# One column list for the JSON and the CSV, so the two always agree.
EVENT_FIELDS = (
    "id",
    "received_at",
    "endpoint",
    "kind",
    "method",
    "query_string",
    "body",
    "content_type",
    "remote_addr",
    "outcome",
    "reason",
    "duplicate_of",
    "spooled_at",
)


class CallbackEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = CallbackEvent
        fields = EVENT_FIELDS


@extend_schema_view(**list_schema(CallbackEventSerializer))
class CallbackEventViewSet(IntegrationListMixin, mixins.RetrieveModelMixin, IntegrationViewSet):
    """Every callback request as it arrived, whatever became of it. Staff only."""

    # Raw requests may carry what the processed rows leave out: staff, with the permission.
    permission_classes = [IsAdminUser, ModelPermissions]
    queryset = CallbackEvent.objects.all()
    serializer_class = CallbackEventSerializer
    filterset_class = CallbackEventFilter
    cursor_ordering = ("-received_at", "-id")
    csv_filename = "callbacks.csv"
    csv_columns = tuple((name, name) for name in EVENT_FIELDS)
