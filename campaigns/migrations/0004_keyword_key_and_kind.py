"""Keywords compared in one canonical form (campaigns.models.keyword_key), unique per short
code, key and kind; review_reason says why a campaign needs review.

Existing campaigns whose keywords become equal under the new rule (KEY and ＫＥＹ, café
composed and decomposed) cannot share a key: the oldest keeps it and receives the callbacks
from now on; each newer one keeps its rows and its keyword for display, gets a key no
callback can produce (the canonical key, U+2063 and its id: keyword_key() strips U+2063), and
is flagged for review with the reason. A marketer then renames it or moves its rows.
"""

from django.db import migrations, models

from campaigns.models import keyword_key

# Invisible separator: a format character keyword_key() removes, so no keyword maps here.
SET_ASIDE = "\u2063#"


def fill_keys(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    owners = {}
    for campaign in Campaign.objects.order_by("created_at", "id").iterator():
        key = keyword_key(campaign.keyword)
        slot = (campaign.shortcode, key, campaign.kind)
        if slot not in owners:
            owners[slot] = campaign.pk
            Campaign.objects.filter(pk=campaign.pk).update(keyword_key=key)
            continue
        Campaign.objects.filter(pk=campaign.pk).update(
            keyword_key=f"{key}{SET_ASIDE}{campaign.pk}",
            needs_review=True,
            review_reason=(
                f"Keywords are now compared ignoring case, width and invisible characters: "
                f"this one equals the keyword of campaign #{owners[slot]} (older), which "
                "receives its callbacks from now on. Rename this campaign or move its rows."
            ),
        )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_unique_constraint_messages"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="campaign",
            name="campaign_keyword_unique_per_shortcode",
        ),
        migrations.AddField(
            model_name="campaign",
            name="keyword_key",
            field=models.CharField(default="", editable=False, max_length=200),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="campaign",
            name="review_reason",
            field=models.TextField(blank=True, help_text="Why it needs review."),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="keyword",
            field=models.CharField(help_text="As first sent or typed.", max_length=64),
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.UniqueConstraint(
                fields=("shortcode", "keyword_key", "kind"),
                name="campaign_keyword_unique_per_shortcode_and_kind",
                violation_error_message="This short code already has a campaign of this kind "
                "with this keyword (keywords match whatever their case, width or accents' "
                "encoding).",
            ),
        ),
    ]
