from django import forms
from django.contrib import admin
from django.contrib.admin.views.main import ERROR_FLAG, PAGE_VAR
from django.db.models import QuerySet
from import_export.admin import ImportMixin
from unfold.admin import ModelAdmin
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from lib.admin_export import ListExportMixin
from lib.admin_lists import (
    BigTableMixin,
    IndexedValuesFilter,
    JsonColumnsMixin,
    RollingDateFilter,
)
from subscribers.imports import LineNumberedCSV, SubscriberResource
from subscribers.models import SUBSCRIBER_COLUMNS, Subscriber, with_field_starting
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


class FieldStartsForm(forms.Form):
    field = forms.ChoiceField(label="Field", required=False, widget=UnfoldAdminSelectWidget)
    field_starts = forms.CharField(
        label="starts with", required=False, max_length=100, widget=UnfoldAdminTextInputWidget
    )


class FieldStartsWithFilter(admin.ListFilter):
    """Subscribers whose custom field starts with a text: Zip "100" finds the zips 100xx.

    The fields offered are those the list shows as columns (and the one asked for, even if
    it is no longer among them); the form keeps the list's other filters and search.
    """

    title = "custom field"
    template = "admin/crm/subscriber/field_filter.html"
    field_var, prefix_var = "field", "field_starts"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.expected_parameters():
            if name in params:
                self.used_parameters[name] = params.pop(name)[-1]
        self.names = list(model_admin.json_columns(request))
        # No NUL: PostgreSQL can compare no text holding one.
        self.name = self.used_parameters.get(self.field_var, "").replace("\x00", "")
        self.prefix = self.used_parameters.get(self.prefix_var, "").replace("\x00", "").strip()
        if self.name and self.name not in self.names:
            self.names.append(self.name)

    def has_output(self) -> bool:
        return bool(self.names)

    def expected_parameters(self) -> list[str]:
        return [self.field_var, self.prefix_var]

    def queryset(self, request, queryset):
        if not (self.name and self.prefix):
            return queryset
        return with_field_starting(queryset, self.name, self.prefix)

    def describe(self) -> str:
        """What the filter picks, in words, or "" when it picks nothing."""
        return f"{self.name} starts with “{self.prefix}”" if self.name and self.prefix else ""

    def choices(self, changelist):
        form = FieldStartsForm(initial={"field": self.name, "field_starts": self.prefix})
        form.fields["field"].choices = [("", "—"), *((n, n) for n in self.names)]
        mine = {*self.expected_parameters(), PAGE_VAR, ERROR_FLAG}
        kept = [(k, v) for k, v in changelist.params.items() if k not in mine]
        yield {"form": form, "kept": kept}


class KeyValueWidget(forms.Widget):
    """A dict of text as a table of name / value rows, two empty rows for new fields."""

    template_name = "subscribers/key_value.html"

    class Media:
        js = ("subscribers/key_value.js",)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        rows = list((value or {}).items()) if isinstance(value, dict) else []
        context["widget"]["rows"] = [*rows, ("", ""), ("", "")]
        return context

    def value_from_datadict(self, data, files, name):
        keys, values = data.getlist(f"{name}_key"), data.getlist(f"{name}_value")
        return list(zip(keys, values, strict=False))

    def value_omitted_from_data(self, data, files, name):
        return f"{name}_key" not in data


class KeyValueField(forms.Field):
    """Custom fields edited row by row: a row with no name or no value is left out, so
    emptying a value removes the field."""

    widget = KeyValueWidget

    def to_python(self, value) -> dict:
        if isinstance(value, dict):
            return value
        fields = {}
        for key, text in value or []:
            key, text = key.strip(), text.strip()
            if key and text:
                if key in fields:
                    raise forms.ValidationError(f"The field {key!r} appears twice.")
                fields[key] = text
        return fields


class SubscriberForm(forms.ModelForm):
    fields = KeyValueField(
        label="Custom fields",
        required=False,
        help_text="What forms and imports told us, one field a row. The latest value a "
        "callback brings replaces the one here; empty a value to remove the field.",
    )

    class Meta:
        model = Subscriber
        fields = ("mobile", "country", "carrier", "fields")
        help_texts = {
            "mobile": "In international form, e.g. +1 212 555 1212 (typed any way, it is read "
            "as a US number unless it starts with +). It is who the subscriber is: it cannot "
            "be changed later.",
            "country": "Two letters, e.g. US or GB.",
            "carrier": "The mobile network, as the platform reports it.",
        }

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
        ("first_seen_at", RollingDateFilter),
        ("last_seen_at", RollingDateFilter),
        ("imported_at", RollingDateFilter),
        FieldStartsWithFilter,
    )
    # Custom-field values too ("Bill", "10024"): a trigram index serves it on PostgreSQL.
    search_fields = ("mobile", "carrier", "fields")
    search_help_text = "A mobile number typed any way, a carrier, or a custom field's value"
    date_hierarchy = "last_seen_at"
    readonly_fields = ("first_seen_at", "last_seen_at", "imported_at", "updated_at")
    fields = ("mobile", "country", "carrier", "fields", *readonly_fields)
    mobile_search_field = "mobile"
    resource_classes = (SubscriberResource,)
    import_template_name = "admin/crm/subscriber/import.html"
    export_columns = SUBSCRIBER_COLUMNS
    export_json_field = "fields"

    form = SubscriberForm

    @admin.display(description="Mobile", ordering="mobile")
    def number(self, obj: Subscriber) -> str:
        return mobile_html(obj.mobile)

    def get_readonly_fields(self, request, obj=None):
        # The number is who the subscriber is: callbacks find them by it. Shown as the lists
        # show it (national for the default country), the stored form on hover.
        return ("number", *self.readonly_fields) if obj else self.readonly_fields

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return tuple("number" if f == "mobile" and obj else f for f in fields)

    def get_import_formats(self):
        return [LineNumberedCSV]

    def has_import_permission(self, request) -> bool:
        return self.has_add_permission(request)
