from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import Http404, HttpResponse, QueryDict
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from unfold.admin import ModelAdmin, TabularInline

from campaigns.activity import TIMELINE_LENGTH, timeline
from campaigns.admin_views import breakdown_view, poll_results_view
from campaigns.models import (
    CAMPAIGN_COLUMNS,
    Campaign,
    FormSubmission,
    InfoRequest,
    Kind,
    PollChoice,
    PollResponse,
    Segment,
)
from campaigns.results import of_subscribers
from campaigns.segments import (
    SEGMENT_VAR,
    SelectionOnly,
    definition,
    read_once,
    segment_subscribers,
    select,
)
from lib.admin_export import ListExportMixin
from lib.admin_lists import (
    AppliedWhenAskedMixin,
    BigTableMixin,
    IndexedValuesFilter,
    JsonColumnsMixin,
    RollingDateFilter,
    once_per_request,
)
from lib.filters import row_id
from subscribers import admin as subscribers_admin
from subscribers.admin import MobileSearchMixin
from subscribers.models import Subscriber
from subscribers.phone import mobile_html


class RecordAdminMixin:
    """What subscribers sent is a record, not editable data: view only; superusers may delete."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


class NeedsReviewFilter(admin.SimpleListFilter):
    title = "review"
    parameter_name = "review"

    def lookups(self, request, model_admin):
        return (("needed", "Needs review"), ("done", "Reviewed"))

    def queryset(self, request, queryset):
        if self.value() == "needed":
            return queryset.filter(needs_review=True)
        if self.value() == "done":
            return queryset.filter(needs_review=False)
        return queryset


class ChoiceFilter(admin.SimpleListFilter):
    """The choices of the campaign picked in the campaign filter (replies are per campaign)."""

    title = "choice"
    parameter_name = "choice"

    def lookups(self, request, model_admin):
        campaign = row_id(request.GET.get("campaign__id__exact"))
        if campaign is None:
            return ()
        return [(str(c.pk), str(c)) for c in PollChoice.objects.filter(campaign_id=campaign)]

    def queryset(self, request, queryset):
        choice = row_id(self.value())
        return queryset if choice is None else queryset.filter(choice_id=choice)


class ReplyMatchFilter(admin.SimpleListFilter):
    """Votes whose reply matched a configured choice, or none (a choice made from the callback)."""

    title = "reply matched a choice"
    parameter_name = "matched"

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No: new reply"))

    def queryset(self, request, queryset):
        if self.value() not in ("yes", "no"):
            return queryset
        # The few choice ids, not a join: with a plain list PostgreSQL can take the newest and
        # oldest matching vote (date drill-down) straight from the received_at index.
        unmatched = list(PollChoice.objects.filter(from_callback=True).values_list("id", flat=True))
        if self.value() == "no":
            return queryset.filter(choice_id__in=unmatched)
        return queryset.exclude(choice_id__in=unmatched)


class CampaignOfKindFilter(admin.RelatedFieldListFilter):
    """The campaign filter of a response list offers only campaigns of that list's kind."""

    def field_choices(self, field, request, model_admin):
        campaigns = Campaign.objects.filter(kind=model_admin.campaign_kind).order_by("name")
        return [(c.pk, str(c)) for c in campaigns]


def every_campaign(request) -> dict[int, Campaign]:
    """Every campaign by id, in the filters' order, read once a request: the segments list
    builds the subscriber list's filters once per segment."""
    campaigns = Campaign.objects.order_by("name", "keyword")
    return once_per_request(request, ("campaigns",), lambda: {c.pk: c for c in campaigns})


def every_poll_choice(request) -> dict[int, PollChoice]:
    """Every poll's choices by id, in each poll's order, read once a request (as above)."""
    choices = PollChoice.objects.filter(campaign__kind=Kind.POLL).order_by("order", "reply")
    return once_per_request(request, ("poll_choices",), lambda: {c.pk: c for c in choices})


class CampaignRowsFilter(AppliedWhenAskedMixin, admin.SimpleListFilter):
    """Rows linked to what a campaign recorded: `linked_by` names the column of the
    campaign's response table that holds this list's ids. Only that kind's table is read:
    one indexed range on (campaign, ...)."""

    title = "campaign"
    parameter_name = "campaign"
    linked_by = ""

    def lookups(self, request, model_admin):
        return [(str(c.pk), str(c)) for c in every_campaign(request).values()]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        campaign = every_campaign(request).get(row_id(self.value()))
        if campaign is None:
            # A campaign asked for that is not there (deleted, or a made-up id): none of its rows.
            return queryset.none()
        rows = RESPONSE_MODELS[campaign.kind].objects.filter(campaign=campaign)
        return queryset.filter(id__in=rows.values(self.linked_by))


class TookPartFilter(CampaignRowsFilter):
    """Subscribers who sent anything to a campaign (voted, asked, filled in the form)."""

    title = "took part in"
    parameter_name = "took_part_in"
    linked_by = "subscriber"

    def queryset(self, request, queryset):
        voted = every_poll_choice(request).get(row_id(request.GET.get(VotedFilter.parameter_name)))
        if voted is not None and voted.campaign_id == row_id(self.value()):
            # Who voted a choice of this poll took part in it: VotedFilter's probe alone, not
            # beside it a semi-join on every vote of the poll (40 of 200 ms at 333,000 votes).
            return queryset
        return super().queryset(request, queryset)


class VotedFilter(AppliedWhenAskedMixin, admin.SimpleListFilter):
    """Subscribers who voted a choice (at least once) in the poll picked in "took part in":
    one range of the pollresponse_choice_voters index."""

    title = "voted"
    parameter_name = "voted"

    def lookups(self, request, model_admin):
        campaign = row_id(request.GET.get(TookPartFilter.parameter_name))
        if campaign is None and self.value() is None:
            return ()
        choices = every_poll_choice(request)
        if campaign is None:
            # Asked for without its poll (a link, a segment): the choices of the choice's poll.
            asked = choices.get(row_id(self.value()))
            campaign = asked.campaign_id if asked else None
        return [(str(c.pk), str(c)) for c in choices.values() if c.campaign_id == campaign]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        choice = every_poll_choice(request).get(row_id(self.value()))
        if choice is None:
            return queryset.none()
        votes = PollResponse.objects.filter(campaign_id=choice.campaign_id, choice=choice)
        # EXISTS, not IN: PostgreSQL then walks the list's order and probes each subscriber's
        # votes, instead of gathering every voter of the choice first (60 against 150 ms for
        # a 133,000-vote poll).
        return queryset.filter(Exists(votes.filter(subscriber=OuterRef("pk"))))


class SegmentFilter(AppliedWhenAskedMixin, admin.SimpleListFilter):
    """Rows of the subscribers a segment selects (campaigns.segments): `subscriber_path`
    names this list's link to them. Only for staff who may see segments."""

    title = "segment"
    parameter_name = SEGMENT_VAR
    subscriber_path = "subscriber"

    def lookups(self, request, model_admin):
        if not request.user.has_perm("campaigns.view_segment"):
            return ()
        segments = once_per_request(
            request, ("segments",), lambda: list(Segment.objects.order_by("name", "id"))
        )
        return [(str(s.pk), s.name) for s in segments]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        segment = Segment.objects.filter(pk=row_id(self.value())).first()
        if segment is None or not request.user.has_perm("campaigns.view_segment"):
            messages.warning(request, "No such segment: the list shows nobody.")
            return queryset.none()
        selection = segment_subscribers(request, segment)
        if selection.problem:
            messages.warning(
                request, f"The segment “{segment}” selects nobody. {selection.problem}"
            )
        return self.select(queryset, selection.subscribers)

    def select(self, queryset, subscribers):
        """This list's rows of those subscribers."""
        return queryset.filter(**{f"{self.subscriber_path}__in": subscribers.values("pk")})


class VotesSegmentFilter(SegmentFilter):
    def select(self, queryset, subscribers):
        # The votes are the big table: the segment is read once and its ids compared as one
        # array. As a subquery, the list's count hashed every subscriber of the segment again
        # to find its first 1,000 votes (0.8 s under load for 14,000 subscribers).
        return of_subscribers(queryset, read_once(subscribers))


class SubscriberSegmentFilter(SegmentFilter):
    def select(self, queryset, subscribers):
        # The segment's conditions beside the list's own, not `id IN (the segment)`: a
        # self-join PostgreSQL hashed whole (twice the time at 200,000 subscribers).
        return queryset & subscribers


RESPONSE_MODELS = {Kind.POLL: PollResponse, Kind.INFO: InfoRequest, Kind.FORM: FormSubmission}


class PollChoiceInline(TabularInline):
    model = PollChoice
    fields = ("reply", "label", "order", "from_callback")
    extra = 2


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = (
            "name",
            "shortcode",
            "keyword",
            "kind",
            "reply_text",
            "duplicate_window",
            "needs_review",
        )
        widgets = {
            # reply_counter.js shows the length and SMS segments under this box.
            "reply_text": forms.Textarea(attrs={"rows": 3, "data-sms-counter": "1"}),
        }


@admin.register(Campaign)
class CampaignAdmin(ListExportMixin, ModelAdmin):
    form = CampaignForm
    list_display = (
        "title",
        "shortcode",
        "keyword",
        "kind",
        "review",
        "responses",
        "subscribers",
        "last_activity",
        "results",
    )
    list_display_links = ("title",)
    readonly_fields = ("review_reason",)
    list_filter = (NeedsReviewFilter, "kind", "shortcode")
    search_fields = ("name", "keyword", "shortcode", "reply_text")
    inlines = (PollChoiceInline,)
    actions = ("mark_reviewed",)
    change_form_template = "admin/campaigns/campaign/change_form.html"
    export_columns = CAMPAIGN_COLUMNS

    class Media:
        js = ("campaigns/reply_counter.js",)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/results/",
                self.admin_site.admin_view(poll_results_view),
                name="campaigns_campaign_results",
            ),
            path(
                "<path:object_id>/results/by/<str:key>/",
                self.admin_site.admin_view(breakdown_view),
                name="campaigns_campaign_breakdown",
            ),
            *super().get_urls(),
        ]

    def get_search_results(self, request, queryset, search_term):
        """Also the campaigns whose keyword is the term as callbacks compare keywords
        (ＫＥＹ finds KEY)."""
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            found |= queryset.with_keyword(search_term)
        return found, may_have_duplicates

    @admin.action(description="Mark selected campaigns as reviewed")
    def mark_reviewed(self, request, queryset):
        count = queryset.mark_reviewed()
        self.message_user(request, f"{count} campaign(s) marked as reviewed.", messages.SUCCESS)

    def get_queryset(self, request):
        return super().get_queryset(request).with_activity()

    @admin.display(description="Campaign", ordering="name")
    def title(self, obj: Campaign) -> str:
        return obj.name or obj.keyword

    @admin.display(description="Status", ordering="needs_review")
    def review(self, obj: Campaign) -> str:
        if not obj.needs_review:
            return mark_safe('<span class="crm-badge">Set up</span>')  # noqa: S308 - constant
        return format_html(
            '<span class="crm-badge crm-badge-warning">Needs review</span>'
            '<div class="crm-reason">{} Since {}.</div>',
            obj.review_reason or "Made from a callback.",
            date_format(timezone.localtime(obj.created_at), "M j, H:i"),
        )

    @admin.display(description="Responses", ordering="responses")
    def responses(self, obj: Campaign) -> str:
        """The count, linking to the responses themselves."""
        model = RESPONSE_MODELS[obj.kind]
        url = reverse(f"admin:campaigns_{model._meta.model_name}_changelist")
        return format_html('<a href="{}?campaign__id__exact={}">{}</a>', url, obj.pk, obj.responses)

    @admin.display(description="Subscribers", ordering="subscribers")
    def subscribers(self, obj: Campaign) -> int:
        return obj.subscribers

    @admin.display(description="Last activity", ordering="last_activity_at")
    def last_activity(self, obj: Campaign) -> str:
        if obj.last_activity_at is None:
            return "-"
        return date_format(timezone.localtime(obj.last_activity_at), "M j, Y H:i")

    @admin.display(description="Results")
    def results(self, obj: Campaign) -> str:
        if obj.kind != Kind.POLL:
            return "-"
        url = reverse("admin:campaigns_campaign_results", args=[obj.pk])
        return format_html('<a href="{}">results</a>', url)


class ResponseAdmin(
    BigTableMixin, RecordAdminMixin, MobileSearchMixin, ListExportMixin, ModelAdmin
):
    """The common shape of the three lists of what subscribers sent."""

    list_select_related = ("campaign", "subscriber")
    date_hierarchy = "received_at"
    list_per_page = 100
    campaign_kind: str = ""
    common_filters = (
        ("campaign", CampaignOfKindFilter),
        ("subscriber__carrier", IndexedValuesFilter),
        ("subscriber__country", IndexedValuesFilter),
        ("received_at", RollingDateFilter),
    )
    export_columns = (
        ("received_at", "received_at"),
        ("mobile", "subscriber__mobile"),
        ("country", "subscriber__country"),
        ("carrier", "subscriber__carrier"),
        ("shortcode", "campaign__shortcode"),
        ("keyword", "campaign__keyword"),
        ("campaign", "campaign__name"),
    )

    @admin.display(description="Mobile", ordering="subscriber__mobile")
    def mobile(self, obj) -> str:
        url = reverse("admin:crm_subscriber_change", args=[obj.subscriber_id])
        return format_html('<a href="{}">{}</a>', url, mobile_html(obj.subscriber.mobile))

    @admin.display(description="Carrier")
    def carrier(self, obj) -> str:
        return obj.subscriber.carrier

    @admin.display(description="Country")
    def country(self, obj) -> str:
        return obj.subscriber.country


@admin.register(PollResponse)
class PollResponseAdmin(ResponseAdmin):
    campaign_kind = Kind.POLL
    list_display = ("received_at", "campaign", "mobile", "reply", "choice_label", "carrier")
    list_select_related = ("campaign", "subscriber", "choice")
    list_filter = (
        *ResponseAdmin.common_filters,
        VotesSegmentFilter,
        ChoiceFilter,
        ReplyMatchFilter,
    )
    search_fields = ("reply", "label", "choice__label", "campaign__keyword")
    export_columns = (
        *ResponseAdmin.export_columns,
        ("reply", "reply"),
        ("label_sent", "label"),
        ("choice", "choice__label"),
    )

    @admin.display(description="Choice", ordering="choice__label")
    def choice_label(self, obj: PollResponse) -> str:
        return obj.choice.label


@admin.register(InfoRequest)
class InfoRequestAdmin(ResponseAdmin):
    campaign_kind = Kind.INFO
    list_display = ("received_at", "campaign", "mobile", "short_message", "carrier", "country")
    list_filter = (*ResponseAdmin.common_filters, SegmentFilter)
    search_fields = ("message", "campaign__keyword")
    export_columns = (*ResponseAdmin.export_columns, ("message", "message"))

    @admin.display(description="Message")
    def short_message(self, obj: InfoRequest) -> str:
        return obj.message[:80]


@admin.register(FormSubmission)
class FormSubmissionAdmin(JsonColumnsMixin, ResponseAdmin):
    campaign_kind = Kind.FORM
    list_display = ("received_at", "campaign", "mobile", "carrier", "country")
    list_filter = (*ResponseAdmin.common_filters, SegmentFilter)
    # Text search inside the custom fields' JSON, as text.
    search_fields = ("fields", "campaign__keyword")
    export_json_field = "fields"


class SegmentForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = ("name", "query")
        widgets = {"query": forms.Textarea(attrs={"rows": 2})}

    request = None  # the admin's request: the subscriber list reads the definition for its user

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_query(self) -> str:
        query = definition(QueryDict(self.cleaned_data["query"].strip().lstrip("?")))
        problem = select(self.request, query).problem
        if problem:
            raise forms.ValidationError(problem)
        return query


def segment_columns(request) -> tuple:
    """The segment's words, count and links, as list columns or read-only fields: functions of
    the request, as the subscriber list reads a segment for its user. The same functions all
    through a request: the change form tells its read-only fields from its form's by them."""
    return once_per_request(request, ("segment_columns",), lambda: new_segment_columns(request))


def count_link(request, segment: Segment) -> str:
    """How many subscribers the segment selects, linked to them on the subscriber list."""
    count, qualifier = segment_subscribers(request, segment).count()
    url = reverse("admin:crm_subscriber_changelist")
    text = f"{qualifier} {count:,}".strip()
    return format_html(
        '<a class="segment-count" href="{}?{}={}">{}</a>', url, SEGMENT_VAR, segment.pk, text
    )


def new_segment_columns(request) -> tuple:
    @admin.display(description="Definition")
    def description(segment: Segment) -> str:
        selection = segment_subscribers(request, segment)
        if selection.problem:
            return format_html(
                '{}<div class="crm-reason segment-problem">{}</div>',
                selection.description,
                selection.problem,
            )
        return selection.description

    @admin.display(description="Subscribers")
    def subscribers(segment: Segment) -> str:
        # Each count can read 10,000 subscribers' votes and fields: a page of 20 counted at
        # once took seconds at 200,000 subscribers. The page shows first, each count follows.
        url = reverse("admin:campaigns_segment_count", args=[segment.pk])
        return format_html(
            '<span class="segment-count-pending" hx-get="{}" hx-trigger="load" '
            'hx-swap="outerHTML">counting…</span>',
            url,
        )

    @admin.display(description="Export")
    def export(segment: Segment) -> str:
        links = (
            (reverse(f"admin:crm_subscriber_export_{fmt}"), SEGMENT_VAR, segment.pk, fmt, label)
            for fmt, label in (("csv", "CSV"), ("xlsx", "XLSX"))
        )
        return format_html_join(
            " · ", '<a class="segment-export-{3}" href="{0}?{1}={2}">{4}</a>', links
        )

    return description, subscribers, export


@admin.register(Segment)
class SegmentAdmin(ModelAdmin):
    """Saved subscriber filters: what each selects in words, how many, and its exports."""

    form = SegmentForm
    search_fields = ("name",)
    list_select_related = ("created_by",)
    list_per_page = 20  # each row builds the subscriber list's filters (their choices read once)

    def get_list_display(self, request):
        return ("name", *segment_columns(request), "created_by", "created_at")

    def get_urls(self):
        count = self.admin_site.admin_view(self.count_view)
        return [
            path("<path:object_id>/count/", count, name="campaigns_segment_count"),
            *super().get_urls(),
        ]

    def count_view(self, request, object_id: str) -> HttpResponse:
        """One segment's count, linked to its subscribers: what the list's rows and the
        segment's page fetch once they show."""
        segment = self.get_object(request, object_id)
        if segment is None:
            raise Http404("No such segment.")
        if not self.has_view_permission(request, segment):
            raise PermissionDenied
        return HttpResponse(count_link(request, segment))

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return (*segment_columns(request), "created_by", "created_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form = type(form.__name__, (form,), {"request": request})
        query = obj.query if obj else request.GET.get("query")
        if query is not None and "query" in form.base_fields:
            # What the definition selects, in words, above how to change it.
            words = select(request, query).description
            field = form.base_fields["query"]
            field.help_text = f"Selects: {words}. {field.help_text}"
        return form

    def get_changeform_initial_data(self, request):
        # "Save as segment" brings the list's definition; no other field comes from the URL.
        return {"query": request.GET.get("query", "")}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


# A subscriber's page shows what they sent, which campaigns know: this app extends the page
# the subscribers app registered.
admin.site.unregister(Subscriber)


@admin.register(Subscriber)
class SubscriberAdmin(subscribers_admin.SubscriberAdmin):
    list_filter = (
        *subscribers_admin.SubscriberAdmin.list_filter,
        TookPartFilter,
        VotedFilter,
        SubscriberSegmentFilter,
    )
    change_list_template = "admin/crm/subscriber/change_list.html"
    readonly_fields = (*subscribers_admin.SubscriberAdmin.readonly_fields, "activity")
    fields = (*subscribers_admin.SubscriberAdmin.fields, "activity")

    @admin.display(description="All activity")
    def activity(self, obj: Subscriber) -> str:
        return format_html_join(
            " · ",
            '<a href="{}?subscriber__id__exact={}">All {}</a>',
            (
                (
                    reverse(f"admin:campaigns_{opts.model_name}_changelist"),
                    obj.pk,
                    opts.verbose_name_plural,
                )
                for opts in (PollResponse._meta, InfoRequest._meta, FormSubmission._meta)
            ),
        )

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {})}
        if request.user.has_perm("campaigns.add_segment"):
            # "Save as segment": the add form, its definition filled in from this list's.
            query = QueryDict(mutable=True)
            query["query"] = definition(request.GET)
            extra_context["save_segment_url"] = (
                f"{reverse('admin:campaigns_segment_add')}?{query.urlencode()}"
            )
        return super().changelist_view(request, extra_context)

    def get_changelist(self, request, **kwargs):
        changelist = super().get_changelist(request, **kwargs)
        if getattr(request, "selection_only", False):
            return type("Selection", (SelectionOnly, changelist), {})
        return changelist

    def change_view(self, request, object_id, form_url="", extra_context=None):
        subscriber = self.get_object(request, object_id)
        extra_context = {**(extra_context or {})}
        if subscriber is not None:
            extra_context["timeline"] = timeline(subscriber)
            extra_context["timeline_length"] = TIMELINE_LENGTH
        return super().change_view(request, object_id, form_url, extra_context)
