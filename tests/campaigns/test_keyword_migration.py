"""Migration 0004 fills the canonical keyword column for campaigns made before it; where two
old campaigns now have one keyword, the oldest keeps it and the other is flagged."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

BEFORE = [("campaigns", "0003_unique_constraint_messages")]
AFTER = [("campaigns", "0004_keyword_key_and_kind")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_existing_keywords_get_their_key_and_collisions_are_flagged():
    old = migrate(BEFORE)
    Campaign = old.get_model("campaigns", "Campaign")
    oldest = Campaign.objects.create(shortcode="1", keyword="KEY", kind="poll")
    # Under the old rule (LOWER) these were all different keywords.
    wide = Campaign.objects.create(shortcode="1", keyword="ＫＥＹ", kind="poll")
    cafe = Campaign.objects.create(shortcode="1", keyword="cafe\u0301", kind="form")
    other = Campaign.objects.create(shortcode="2", keyword="ＫＥＹ", kind="poll")
    try:
        new = migrate(AFTER)
        Campaign = new.get_model("campaigns", "Campaign")
        rows = {c.pk: c for c in Campaign.objects.all()}
        assert (rows[oldest.pk].keyword_key, rows[oldest.pk].needs_review) == ("key", False)
        assert (rows[cafe.pk].keyword_key, rows[cafe.pk].needs_review) == ("caf\u00e9", False)
        assert (rows[other.pk].keyword_key, rows[other.pk].needs_review) == ("key", False)
        set_aside = rows[wide.pk]
        assert set_aside.keyword == "ＫＥＹ"  # kept for display
        assert set_aside.keyword_key == f"key\u2063#{wide.pk}"
        assert set_aside.needs_review
        assert f"equals the keyword of campaign #{oldest.pk}" in set_aside.review_reason
    finally:
        Campaign.objects.all().delete()
        latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
        migrate(latest)
