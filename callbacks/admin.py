from datetime import timedelta
from functools import reduce
from operator import or_

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold.admin import ModelAdmin

from callbacks.models import CallbackEvent, Endpoint
from callbacks.params import read_params
from callbacks.parsing import InvalidCallback
from campaigns.admin import RESPONSE_MODELS, CampaignRowsFilter, RecordAdminMixin
from campaigns.models import Kind
from lib.admin_export import ListExportMixin
from lib.admin_lists import BigTableMixin, ProbedExists, RollingDateFilter, distinct_values
from subscribers.admin import MobileSearchMixin
from subscribers.models import Subscriber

# How long an old token keeps working after a rotation: long enough to paste the new URLs.
GRACE_PERIODS = {
    "0": ("Stop at once", timedelta(0)),
    "1h": ("1 hour", timedelta(hours=1)),
    "1d": ("1 day", timedelta(days=1)),
    "7d": ("7 days", timedelta(days=7)),
}


class RotateTokenForm(forms.Form):
    old_token_works_for = forms.ChoiceField(
        choices=[(key, label) for key, (label, _) in GRACE_PERIODS.items()], initial="1d"
    )


@admin.register(Endpoint)
class EndpointAdmin(ModelAdmin):
    """The token is the endpoint's only secret: whole only to those who may change endpoints."""

    list_display = ("name", "enabled", "masked_token", "created_at")
    list_filter = ("enabled",)
    change_form_template = "admin/callbacks/endpoint/change_form.html"

    def get_fields(self, request, obj=None):
        return ("name", "enabled", *self.get_readonly_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        token = "token" if self.has_change_permission(request, obj) else "masked_token"
        return (token, "previous_token_expires_at", "created_at")

    def get_urls(self):
        rotate = self.admin_site.admin_view(self.rotate_token_view)
        return [
            path("<path:object_id>/rotate/", rotate, name="callbacks_endpoint_rotate"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = self.get_object(request, object_id)
        extra_context = {**(extra_context or {})}
        if endpoint is not None and self.has_change_permission(request, endpoint):
            # Full URLs, as they are pasted into Sumotext.
            extra_context["callback_urls"] = [
                (label, request.build_absolute_uri(endpoint.url_path(kind)))
                for kind, label in Kind.choices
            ]
            extra_context["rotate_url"] = reverse(
                "admin:callbacks_endpoint_rotate", args=[endpoint.pk]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def rotate_token_view(self, request, object_id):
        endpoint = self.get_object(request, object_id)
        if endpoint is None:
            raise Http404
        if not self.has_change_permission(request, endpoint):
            raise PermissionDenied
        form = RotateTokenForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            _, grace = GRACE_PERIODS[form.cleaned_data["old_token_works_for"]]
            until = timezone.now() + grace
            endpoint.rotate_token(until)
            self.log_change(request, endpoint, "Rotated the token.")
            self.message_user(
                request,
                f"New token made. The old one works until {until:%Y-%m-%d %H:%M %Z}: "
                "paste the new URLs into Sumotext before then.",
                messages.SUCCESS,
            )
            return redirect("admin:callbacks_endpoint_change", endpoint.pk)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": endpoint,
            "title": f"Rotate the token of {endpoint}",
            "form": form,
        }
        return TemplateResponse(request, "admin/callbacks/endpoint/rotate.html", context)


def produced_by(**lookups) -> QuerySet:
    """Ids of the callbacks that produced a row matching the lookups, in any response table.

    One indexed query per table, joined by UNION: ORing joins would scan the whole log."""
    produced = [
        model.objects.filter(**lookups).values("callback_id").order_by()
        for model in RESPONSE_MODELS.values()
    ]
    return produced[0].union(*produced[1:])


def produced_where(**lookups) -> Q:
    """The callbacks that produced a row matching the lookups, for a filter on many of them
    (a carrier's): each callback's own kind of row probed by its id, in the log's order."""
    return reduce(
        or_,
        (
            Q(kind=kind) & ProbedExists(model.objects.filter(callback_id=OuterRef("pk"), **lookups))
            for kind, model in RESPONSE_MODELS.items()
        ),
    )


class CampaignFilter(CampaignRowsFilter):
    """The callbacks recorded for a campaign (rejected and failed ones name none)."""

    linked_by = "callback_id"


class SubscriberValueFilter(admin.SimpleListFilter):
    """The callbacks from subscribers with this carrier or country."""

    field = ""

    def lookups(self, request, model_admin):
        return [(value, value) for value in distinct_values(Subscriber, self.field) if value]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(produced_where(**{f"subscriber__{self.field}": self.value()}))


class CarrierFilter(SubscriberValueFilter):
    title = parameter_name = field = "carrier"


class CountryFilter(SubscriberValueFilter):
    title = parameter_name = field = "country"


@admin.register(CallbackEvent)
class CallbackEventAdmin(
    BigTableMixin, RecordAdminMixin, MobileSearchMixin, ListExportMixin, ModelAdmin
):
    list_display = ("received_at", "kind", "method", "outcome", "short_reason", "produced")
    list_filter = (
        "outcome",
        "kind",
        CampaignFilter,
        CarrierFilter,
        CountryFilter,
        "endpoint",
        ("received_at", RollingDateFilter),
    )
    # Reverse one-to-ones: the produced row comes in the same query, not one per line.
    list_select_related = ("endpoint", "pollresponse", "inforequest", "formsubmission")
    search_fields = ("query_string", "body", "reason")
    date_hierarchy = "received_at"
    list_per_page = 100
    readonly_fields = ("params_table", "produced")
    export_columns = (
        ("received_at", "received_at"),
        ("endpoint", "endpoint__name"),
        ("kind", "kind"),
        ("method", "method"),
        ("outcome", "outcome"),
        ("reason", "reason"),
        ("query_string", "query_string"),
        ("body", "body"),
        ("remote_addr", "remote_addr"),
    )

    def search_mobile(self, queryset: QuerySet, mobile: str) -> QuerySet:
        """The callbacks that produced a row for the subscriber: a callback holds no subscriber.

        One indexed lookup per response table; ORing joins would scan the whole log.
        """
        return queryset.filter(id__in=produced_by(subscriber__mobile=mobile))

    @admin.display(description="Reason")
    def short_reason(self, obj: CallbackEvent) -> str:
        return obj.reason[:80]

    @admin.display(description="Produced")
    def produced(self, obj: CallbackEvent) -> str:
        row = obj.record
        if row is None:
            return "-"
        opts = row._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[row.pk])
        return format_html('<a href="{}">{} #{}</a>', url, opts.verbose_name, row.pk)

    @admin.display(description="Parameters")
    def params_table(self, obj: CallbackEvent) -> str:
        try:
            params = read_params(obj)
        except InvalidCallback as e:
            return str(e)  # the raw query string and body are shown beside it
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", params),
        )
