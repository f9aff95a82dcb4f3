from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from import_export.admin import ImportMixin
from import_export.formats.base_formats import CSV
from unfold.admin import ModelAdmin

from lib.admin_export import ListExportMixin
from lib.admin_lists import BigTableMixin, IndexedValuesFilter, JsonColumnsMixin
from subscribers.imports import SubscriberResource
from subscribers.models import SUBSCRIBER_COLUMNS, Subscriber
from subscribers.phone import InvalidMobile, mobile_html, normalise_mobile


class MobileSearchMixin:
    """Search finds a mobile number in whatever format a person types it.

    A term that reads as a whole number ("(212) 555-1212") is normalised like a callback's
    number and matched exactly, through the unique index; anything else ("5551212", "Tampa")
    goes to the admin's ordinary text search.
    """

    mobile_search_field = "subscriber__mobile"

    def get_search_results(self, request, queryset, search_term):
        try:
            mobile = normalise_mobile(search_term)
        except InvalidMobile:
            return super().get_search_results(request, queryset, search_term)
        return self.search_mobile(queryset, mobile), False

    def search_mobile(self, queryset: QuerySet, mobile: str) -> QuerySet:
        """The rows of the subscriber with this E.164 number."""
        return queryset.filter(**{self.mobile_search_field: mobile})


class SubscriberForm(forms.ModelForm):
    def clean_mobile(self) -> str:
        try:
            return normalise_mobile(self.cleaned_data["mobile"])
        except InvalidMobile as e:
            raise forms.ValidationError(str(e)) from None


@admin.register(Subscriber)
class SubscriberAdmin(
    BigTableMixin, JsonColumnsMixin, MobileSearchMixin, ListExportMixin, ImportMixin, ModelAdmin
):
    list_display = ("number", "country", "carrier", "first_seen_at", "last_seen_at")
    list_display_links = ("number",)
    list_filter = (
        ("country", IndexedValuesFilter),
        ("carrier", IndexedValuesFilter),
        "first_seen_at",
        "last_seen_at",
    )
    # Custom-field values too ("Bill", "10024"): a trigram index serves it on PostgreSQL.
    search_fields = ("mobile", "carrier", "fields")
    search_help_text = "A mobile number typed any way, a carrier, or a custom field's value"
    date_hierarchy = "last_seen_at"
    readonly_fields = ("first_seen_at", "last_seen_at", "updated_at")
    fields = ("mobile", "country", "carrier", "fields", *readonly_fields)
    mobile_search_field = "mobile"
    resource_classes = (SubscriberResource,)
    export_columns = SUBSCRIBER_COLUMNS
    export_json_field = "fields"

    form = SubscriberForm

    @admin.display(description="Mobile", ordering="mobile")
    def number(self, obj: Subscriber) -> str:
        return mobile_html(obj.mobile)

    def get_readonly_fields(self, request, obj=None):
        # The number is who the subscriber is: callbacks find them by it.
        return ("mobile", *self.readonly_fields) if obj else self.readonly_fields

    def get_import_formats(self):
        return [CSV]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request)
