"""Campaigns, poll choices, what subscribers sent, and poll results in the integration API."""

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice

from django.db import IntegrityError, transaction
from django_filters import rest_framework as filters
from django_filters.constants import EMPTY_VALUES
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.settings import api_settings

from campaigns.models import (
    Campaign,
    FormSubmission,
    InfoRequest,
    Kind,
    PollChoice,
    PollResponse,
    clean_keyword,
    keyword_key,
)
from campaigns.results import Counting, poll_results
from lib.api import IntegrationListMixin, IntegrationViewSet, list_schema
from lib.exports import CHUNK_SIZE
from lib.filters import IdFilter, SameTextFilter, TimeFilter, TrueFalseFilter, in_utc
from lib.rest import (
    Conflict,
    StrictModelSerializer,
    check_conflicts,
    validate_model,
    with_changes,
)
from lib.text import folded
from subscribers.api import CountryFilter, PeopleFilterForm, mobile_filter

# Campaigns and poll choices


class ChoiceInCampaignSerializer(StrictModelSerializer):
    """A poll choice, inside its campaign."""

    class Meta:
        model = PollChoice
        fields = ("id", "reply", "label", "order", "from_callback")
        read_only_fields = ("from_callback",)


class CampaignSerializer(StrictModelSerializer):
    """A campaign read, or changed: its choices change through /api/v1/poll-choices/, so here
    they are read-only, and what GET answers can be sent back with PUT as it is."""

    choices = ChoiceInCampaignSerializer(
        many=True, read_only=True, help_text="Poll choices; change them in /api/v1/poll-choices/."
    )

    class Meta:
        model = Campaign
        fields = (
            "id",
            "shortcode",
            "keyword",
            "kind",
            "name",
            "reply_text",
            "duplicate_window",
            "needs_review",
            "review_reason",
            "created_at",
            "choices",
        )
        read_only_fields = ("review_reason",)

    def validate_keyword(self, value: str) -> str:
        return clean_keyword(value)

    def validate(self, attrs: dict) -> dict:
        fields = {name: value for name, value in attrs.items() if name != "choices"}
        validate_model(with_changes(self.instance, Campaign, fields))
        return attrs

    def update(self, instance: Campaign, validated_data: dict) -> Campaign:
        check_conflicts(with_changes(instance, Campaign, validated_data))
        return super().update(instance, validated_data)


class CampaignCreateSerializer(CampaignSerializer):
    """A new campaign, its poll choices included."""

    choices = ChoiceInCampaignSerializer(
        many=True, required=False, help_text="Poll choices, created with the campaign."
    )

    def create(self, validated_data: dict) -> Campaign:
        choices = validated_data.pop("choices", [])
        check_conflicts(with_changes(None, Campaign, validated_data))
        check_replies_differ(choices)
        try:
            with transaction.atomic():
                campaign = Campaign.objects.create(**validated_data)
                for choice in choices:
                    campaign.choices.create(**choice)
        except IntegrityError:
            # Another request created the same keyword between validation and saving.
            raise Conflict(
                {api_settings.NON_FIELD_ERRORS_KEY: ["This campaign exists already."]}
            ) from None
        return campaign


def check_replies_differ(choices: list[dict]) -> None:
    """Two choices of one body with one reply, in any case, clash as a reply the campaign
    has already does: a 409 (the schema cannot say it, so it is no 400)."""
    seen = set()
    for choice in choices:
        reply = folded(choice["reply"])
        if reply in seen:
            raise Conflict({"choices": [f"Reply {choice['reply']!r} is given twice."]})
        seen.add(reply)


class PollChoiceSerializer(StrictModelSerializer):
    """A reply a poll understands, and the label its votes count under."""

    class Meta:
        model = PollChoice
        fields = ("id", "campaign", "reply", "label", "order", "from_callback")

    def validate(self, attrs: dict) -> dict:
        validate_model(with_changes(self.instance, PollChoice, attrs))
        return attrs

    def create(self, validated_data: dict) -> PollChoice:
        check_conflicts(with_changes(None, PollChoice, validated_data))
        return super().create(validated_data)

    def update(self, instance: PollChoice, validated_data: dict) -> PollChoice:
        check_conflicts(with_changes(instance, PollChoice, validated_data))
        return super().update(instance, validated_data)


class PollChoiceUpdateSerializer(PollChoiceSerializer):
    """A choice changed: it stays in its campaign (votes point at it, and moving it would move
    them), so `campaign` is read-only and what GET answers can be sent back with PUT."""

    class Meta(PollChoiceSerializer.Meta):
        read_only_fields = ("campaign",)


class PollChoiceFilter(filters.FilterSet):
    campaign = IdFilter(field_name="campaign")

    class Meta:
        model = PollChoice
        fields = ()


class KeywordFilter(filters.CharFilter):
    """A keyword in any case, width or spacing, compared as callbacks compare it
    (campaigns.models.keyword_key). field_name names a keyword_key column."""

    def filter(self, queryset, value):
        if value in EMPTY_VALUES:
            return queryset
        return queryset.filter(**{self.field_name: keyword_key(value)})


class CampaignFilter(filters.FilterSet):
    kind = filters.ChoiceFilter(choices=Kind.choices)
    shortcode = filters.CharFilter(field_name="shortcode")
    keyword = KeywordFilter(field_name="keyword_key")
    needs_review = TrueFalseFilter()

    class Meta:
        model = Campaign
        fields = ()


def with_choices(rows: Iterator[Sequence]) -> Iterator[tuple]:
    """Campaign rows (id first) with their choices as "A: Tampa; B: Miami" appended.

    One query per chunk of campaigns, not per campaign.
    """
    while chunk := list(islice(rows, CHUNK_SIZE)):
        texts = defaultdict(list)
        choices = PollChoice.objects.filter(campaign__in=[row[0] for row in chunk])
        for campaign, reply, label in choices.values_list("campaign", "reply", "label"):
            texts[campaign].append(f"{reply}: {label}")
        for row in chunk:
            yield (*row, "; ".join(texts[row[0]]))


class UTCDateTimeField(serializers.DateTimeField):
    """A time query parameter, read in UTC as the API's time filters read one."""

    def to_internal_value(self, value) -> datetime:
        return in_utc(super().to_internal_value(value))


class ResultsQuerySerializer(serializers.Serializer):
    counting = serializers.ChoiceField(choices=Counting.choices, default=Counting.ALL)
    since = UTCDateTimeField(required=False, help_text="From this time, included.")
    until = UTCDateTimeField(
        required=False,
        help_text="Up to this time, excluded. At or before `since`, the range holds no vote.",
    )


class ChoiceResultSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="choice.id")
    reply = serializers.CharField(source="choice.reply")
    label = serializers.CharField(source="choice.label")
    votes = serializers.IntegerField()
    voters = serializers.IntegerField(help_text="Distinct subscribers whose votes count.")
    share = serializers.FloatField(help_text="Of all votes counted, 0 to 1.")


class PollResultsSerializer(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.id")
    counting = serializers.ChoiceField(choices=Counting.choices)
    since = serializers.DateTimeField(allow_null=True)
    until = serializers.DateTimeField(allow_null=True)
    votes = serializers.IntegerField()
    voters = serializers.IntegerField(help_text="Distinct subscribers who voted in the range.")
    choices = ChoiceResultSerializer(source="configured", many=True)
    unmatched = ChoiceResultSerializer(
        many=True, help_text="Replies that matched no configured choice."
    )


@extend_schema_view(**list_schema(CampaignSerializer))
class CampaignViewSet(
    IntegrationListMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    IntegrationViewSet,
):
    """Campaigns with their poll choices, validated as the admin validates them."""

    queryset = Campaign.objects.prefetch_related("choices")
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter
    cursor_ordering = ("-created_at", "-id")
    csv_filename = "campaigns.csv"
    # The JSON's fields, in its order; choices follow as "A: Tampa; B: Miami".
    csv_columns = tuple((name, name) for name in CampaignSerializer.Meta.fields[:-1])

    def csv_table(self, queryset):
        header, rows = super().csv_table(queryset)
        return [*header, "choices"], with_choices(rows)

    def get_serializer_class(self):
        return CampaignCreateSerializer if self.action == "create" else CampaignSerializer

    def perform_create(self, serializer):
        if serializer.validated_data.get("choices") and not self.request.user.has_perm(
            "campaigns.add_pollchoice"
        ):
            raise PermissionDenied("Creating poll choices needs the add poll choice permission.")
        serializer.save()

    @extend_schema(parameters=[ResultsQuerySerializer], responses=PollResultsSerializer)
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=None,
        query_params=tuple(ResultsQuerySerializer().fields),
    )
    def results(self, request, pk=None):
        """Votes, unique voters and shares per choice, counted as on the admin results page."""
        if not request.user.has_perm("campaigns.view_pollresponse"):
            raise PermissionDenied("Poll results need the view poll response permission.")
        campaign = self.get_object()
        query = ResultsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(PollResultsSerializer(poll_results(campaign, **query.validated_data)).data)


@extend_schema_view(**list_schema(PollChoiceSerializer))
class PollChoiceViewSet(
    IntegrationListMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    IntegrationViewSet,
):
    """The replies a poll understands. Choices with votes are kept, so none is deleted here."""

    queryset = PollChoice.objects.all()
    serializer_class = PollChoiceSerializer
    filterset_class = PollChoiceFilter

    def get_serializer_class(self):
        if self.action in ("update", "partial_update"):
            return PollChoiceUpdateSerializer
        return PollChoiceSerializer

    cursor_ordering = ("id",)
    csv_filename = "poll-choices.csv"
    csv_columns = (
        ("id", "id"),
        ("campaign", "campaign"),
        ("reply", "reply"),
        ("label", "label"),
        ("order", "order"),
        ("from_callback", "from_callback"),
    )


# What subscribers sent


class ResponseFilter(filters.FilterSet):
    campaign = IdFilter(field_name="campaign")
    keyword = KeywordFilter(field_name="campaign__keyword_key", help_text="In any case.")
    shortcode = filters.CharFilter(field_name="campaign__shortcode")
    carrier = SameTextFilter(field_name="subscriber__carrier", help_text="In any case.")
    country = CountryFilter(field_name="subscriber__country")
    mobile = mobile_filter("subscriber__mobile")
    received_after = TimeFilter(
        field_name="received_at", lookup_expr="gte", help_text="At or after this time."
    )
    received_before = TimeFilter(
        field_name="received_at", lookup_expr="lt", help_text="Before this time."
    )

    class Meta:
        fields = ()
        form = PeopleFilterForm


class PollResponseFilter(ResponseFilter):
    reply = SameTextFilter(field_name="reply", help_text="In any case.")

    class Meta(ResponseFilter.Meta):
        model = PollResponse


class InfoRequestFilter(ResponseFilter):
    class Meta(ResponseFilter.Meta):
        model = InfoRequest


class FormSubmissionFilter(ResponseFilter):
    class Meta(ResponseFilter.Meta):
        model = FormSubmission


RESPONSE_FIELDS = (
    "id",
    "received_at",
    "campaign",
    "shortcode",
    "keyword",
    "subscriber",
    "mobile",
    "carrier",
    "country",
    "callback",
    "extras",
)


class ResponseSerializer(serializers.ModelSerializer):
    shortcode = serializers.CharField(source="campaign.shortcode", read_only=True)
    keyword = serializers.CharField(source="campaign.keyword", read_only=True)
    mobile = serializers.CharField(source="subscriber.mobile", read_only=True)
    carrier = serializers.CharField(source="subscriber.carrier", read_only=True)
    country = serializers.CharField(source="subscriber.country", read_only=True)
    extras = serializers.DictField(
        child=serializers.CharField(), read_only=True, help_text="Undocumented parameters."
    )


class PollResponseSerializer(ResponseSerializer):
    choice_label = serializers.CharField(source="choice.label", read_only=True)

    class Meta:
        model = PollResponse
        fields = (*RESPONSE_FIELDS, "choice", "choice_label", "reply", "label")


class InfoRequestSerializer(ResponseSerializer):
    class Meta:
        model = InfoRequest
        fields = (*RESPONSE_FIELDS, "message")


class FormSubmissionSerializer(ResponseSerializer):
    fields = serializers.DictField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = FormSubmission
        fields = (*RESPONSE_FIELDS, "fields")


# The JSON's names and values (ids, and labels beside them); the admin's export names the
# campaign instead, for people. Custom fields and extras are columns / objects of their own.
RESPONSE_COLUMNS = (
    ("id", "id"),
    ("received_at", "received_at"),
    ("campaign", "campaign"),
    ("shortcode", "campaign__shortcode"),
    ("keyword", "campaign__keyword"),
    ("subscriber", "subscriber"),
    ("mobile", "subscriber__mobile"),
    ("carrier", "subscriber__carrier"),
    ("country", "subscriber__country"),
    ("callback", "callback"),
)


class ResponseViewSet(IntegrationListMixin, mixins.RetrieveModelMixin, IntegrationViewSet):
    """Read-only: only callbacks record responses."""

    cursor_ordering = ("-received_at", "-id")


@extend_schema_view(**list_schema(PollResponseSerializer))
class PollResponseViewSet(ResponseViewSet):
    """Poll votes, as received, with the choice each one counts for."""

    queryset = PollResponse.objects.select_related("campaign", "subscriber", "choice")
    serializer_class = PollResponseSerializer
    filterset_class = PollResponseFilter
    csv_filename = "poll-responses.csv"
    csv_columns = (
        *RESPONSE_COLUMNS,
        ("choice", "choice"),
        ("choice_label", "choice__label"),
        ("reply", "reply"),
        ("label", "label"),
    )


@extend_schema_view(**list_schema(InfoRequestSerializer))
class InfoRequestViewSet(ResponseViewSet):
    """Text-4-Info keywords texted in."""

    queryset = InfoRequest.objects.select_related("campaign", "subscriber")
    serializer_class = InfoRequestSerializer
    filterset_class = InfoRequestFilter
    csv_filename = "info-requests.csv"
    csv_columns = (*RESPONSE_COLUMNS, ("message", "message"))


@extend_schema_view(**list_schema(FormSubmissionSerializer))
class FormSubmissionViewSet(ResponseViewSet):
    """Web form and sticky session captures; in CSV, each custom field is a column."""

    queryset = FormSubmission.objects.select_related("campaign", "subscriber")
    serializer_class = FormSubmissionSerializer
    filterset_class = FormSubmissionFilter
    csv_filename = "form-submissions.csv"
    csv_columns = RESPONSE_COLUMNS
    csv_json_field = "fields"
