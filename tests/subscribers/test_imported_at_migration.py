"""Migration crm/0007 (imported_at, a nullable last_seen_at): on SQLite it rebuilds the
subscriber table, which would drop the change and deletion triggers; they survive both ways."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE = [("crm", "0006_subscriber_changes_and_deletions")]
AFTER = [("crm", "0008_subscriber_last_seen_index_with_id")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_subscribers_keep_their_triggers_when_0007_is_applied_and_unapplied():
    try:
        for targets in (BEFORE, AFTER):
            apps = migrate(targets)
            Subscriber = apps.get_model("crm", "Subscriber")
            Deletion = apps.get_model("crm", "Deletion")
            now = timezone.now()
            subscriber = Subscriber.objects.create(
                mobile="+12125551212", first_seen_at=now, last_seen_at=now, updated_at=now
            )
            Subscriber.objects.filter(pk=subscriber.pk).update(carrier="VZ")
            subscriber.refresh_from_db()
            assert subscriber.change_seq > 0, targets
            Subscriber.objects.filter(pk=subscriber.pk).delete()
            assert Deletion.objects.filter(object_id=subscriber.pk).exists(), targets
            Deletion.objects.all().delete()
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
