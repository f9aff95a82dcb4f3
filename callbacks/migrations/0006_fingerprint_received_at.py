from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_received_at(apps, schema_editor):
    # A claim's arrival is its event's.
    CallbackEvent = apps.get_model("callbacks", "CallbackEvent")
    CallbackFingerprint = apps.get_model("callbacks", "CallbackFingerprint")
    arrival = CallbackEvent.objects.filter(pk=OuterRef("event_id")).values("received_at")[:1]
    CallbackFingerprint.objects.update(received_at=Subquery(arrival))


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0005_spool_duplicates_raw_body"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackfingerprint",
            name="received_at",
            field=models.DateTimeField(null=True),
        ),
        migrations.RunPython(fill_received_at, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="callbackfingerprint",
            name="received_at",
            field=models.DateTimeField(),
        ),
    ]
