from heapq import merge
from itertools import islice

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV

from campaigns.models import FormSubmission, InfoRequest, PollResponse
from crm.admin_export import ListExportMixin
from crm.models import Subscriber
from crm.phone import InvalidMobile, normalise_mobile
from crm.subscriber_import import SubscriberResource

TIMELINE_LENGTH = 50


class MobileSearchMixin:
    """Search finds a mobile number in whatever format a person types it.

    "(212) 555-1212" is normalised like a callback's number and matched exactly, besides
    the admin's ordinary text search (which still finds partial digits).
    """

    mobile_search_field = "subscriber__mobile"

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            mobile = normalise_mobile(search_term)
        except InvalidMobile:
            return found, may_have_duplicates
        return found | queryset.filter(**{self.mobile_search_field: mobile}), may_have_duplicates


def latest(what: str, rows, limit: int):
    return ((what, row) for row in rows.order_by("-received_at", "-id")[:limit])


def timeline(subscriber: Subscriber, limit: int = TIMELINE_LENGTH) -> list[tuple[str, object]]:
    """What the subscriber did, newest first, as (what, row): the latest `limit` of votes, info
    requests and form submissions together. Three bounded queries, whatever their history."""
    newest_first = merge(
        latest("Vote", subscriber.pollresponses.select_related("campaign", "choice"), limit),
        latest("Info request", subscriber.inforequests.select_related("campaign"), limit),
        latest("Form", subscriber.formsubmissions.select_related("campaign"), limit),
        key=lambda entry: entry[1].received_at,
        reverse=True,
    )
    return list(islice(newest_first, limit))


@admin.register(Subscriber)
class SubscriberAdmin(MobileSearchMixin, ListExportMixin, ImportMixin, admin.ModelAdmin):
    list_display = ("mobile", "country", "carrier", "first_seen_at", "last_seen_at")
    list_filter = ("country", "carrier", "last_seen_at")
    search_fields = ("mobile", "carrier")
    date_hierarchy = "last_seen_at"
    readonly_fields = ("first_seen_at", "last_seen_at", "updated_at", "activity")
    fields = ("mobile", "country", "carrier", "fields", *readonly_fields)
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    mobile_search_field = "mobile"
    resource_classes = (SubscriberResource,)
    export_columns = (
        ("mobile", "mobile"),
        ("country", "country"),
        ("carrier", "carrier"),
        ("first_seen_at", "first_seen_at"),
        ("last_seen_at", "last_seen_at"),
    )
    export_json_field = "fields"

    def get_import_formats(self):
        return [CSV]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request)

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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        subscriber = self.get_object(request, object_id)
        extra_context = {**(extra_context or {})}
        if subscriber is not None:
            extra_context["timeline"] = timeline(subscriber)
            extra_context["timeline_length"] = TIMELINE_LENGTH
        return super().change_view(request, object_id, form_url, extra_context)
