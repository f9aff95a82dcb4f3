"""Subscribers from a CSV file, through django-import-export's preview-then-confirm import.

Numbers are normalised exactly as callbacks normalise them and rows are saved through
Subscriber.objects.upsert(), so an import and a callback agree on who a number is. Columns
other than mobile, country and carrier become custom fields. The import runs in one
transaction: a file with any invalid row imports nothing.
"""

from django.core.exceptions import ValidationError
from import_export import resources

from lib.text import canonical_name, is_blank
from subscribers.models import Subscriber
from subscribers.phone import InvalidMobile, country_code, normalise_mobile, region_of

PROFILE_COLUMNS = ("mobile", "country", "carrier")


def custom_fields(row: dict) -> dict:
    return {
        str(name).strip(): str(value).strip()
        for name, value in row.items()
        if name and canonical_name(str(name)) not in PROFILE_COLUMNS and value is not None
    }


class SubscriberResource(resources.ModelResource):
    class Meta:
        model = Subscriber
        fields = PROFILE_COLUMNS
        import_id_fields = ("mobile",)
        use_transactions = True

    def before_import(self, dataset, **kwargs):
        # "Mobile", "MOBILE " and "mobile" are one column, as callbacks match parameters.
        dataset.headers = [
            canonical_name(name) if name and canonical_name(name) in PROFILE_COLUMNS else name
            for name in dataset.headers
        ]

    def before_import_row(self, row, **kwargs):
        raw_country = str(row.get("country") or "")
        try:
            row["mobile"] = normalise_mobile(str(row.get("mobile") or ""), raw_country)
        except InvalidMobile as e:
            raise ValidationError({"mobile": str(e)}) from None
        row["country"] = country_code(raw_country) or region_of(row["mobile"])
        row["carrier"] = str(row.get("carrier") or "").strip()[:64]

    def import_field(self, field, instance, row, is_m2m=False, **kwargs):
        # As in callbacks, a blank cell never erases what is stored.
        if field.column_name in row and is_blank(row[field.column_name]):
            return
        super().import_field(field, instance, row, is_m2m, **kwargs)

    def save_instance(self, instance, is_create, row, **kwargs):
        # Meta.use_transactions: a preview saves too, in a transaction that is rolled back.
        saved = Subscriber.objects.upsert(
            instance.mobile,
            country=instance.country,
            carrier=instance.carrier,
            fields=custom_fields(row),
        )
        instance.pk = saved.pk
