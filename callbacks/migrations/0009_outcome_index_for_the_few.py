"""The outcome's own index goes (nearly every callback is processed: it served only the few
others, and every callback paid for it); an index of the few takes its place.

The column itself is unchanged, so the old index is dropped by name: SQLite would rebuild the
whole table for an AlterField, and drop the triggers on it with the old one.
"""

from django.db import migrations, models

OLD_INDEXES = (
    "callbacks_callbackevent_outcome_9a5e32c9",
    "callbacks_callbackevent_outcome_9a5e32c9_like",
)


class Migration(migrations.Migration):
    dependencies = [
        ("callbacks", "0008_endpoint_catalog_version"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="callbackevent",
                    name="outcome",
                    field=models.CharField(
                        choices=[
                            ("processed", "Processed"),
                            ("rejected", "Rejected"),
                            ("failed", "Failed"),
                            ("duplicate", "Duplicate"),
                        ],
                        max_length=10,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name in OLD_INDEXES],
                    reverse_sql=[
                        f'CREATE INDEX "{OLD_INDEXES[0]}" ON "callbacks_callbackevent" ("outcome")'
                    ],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="callbackevent",
            index=models.Index(
                condition=models.Q(("outcome", "processed"), _negated=True),
                fields=["received_at"],
                name="callbackevent_not_processed",
            ),
        ),
    ]
