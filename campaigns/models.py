from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from lib.models import first_or_create
from lib.sync import change_seq_field, changes_index
from lib.text import same_text


def clean_keyword(keyword: str) -> str:
    """Keywords match case-insensitively and ignore surrounding spaces."""
    return " ".join((keyword or "").split())


class Kind(models.TextChoices):
    # A web form or sticky session captured the subscriber's details.
    FORM = "form", "Web form / sticky session"
    # The subscriber voted in a poll by replying with a choice code.
    POLL = "poll", "Poll"
    # The subscriber texted a keyword and gets the campaign's reply.
    INFO = "info", "Text-4-Info"


class CampaignQuerySet(models.QuerySet):
    def matching(self, shortcode: str, keyword: str) -> "CampaignQuerySet":
        return self.filter(
            same_text("keyword", clean_keyword(keyword)), shortcode=shortcode.strip()
        )

    def mark_reviewed(self) -> int:
        """A marketer has looked at these campaigns made from unknown keywords."""
        return self.filter(needs_review=True).update(needs_review=False)


class CampaignManager(models.Manager.from_queryset(CampaignQuerySet)):
    def for_callback(self, kind: str, shortcode: str, keyword: str) -> "Campaign":
        """The campaign a callback belongs to, created for review when nobody set it up.

        Text-4-Info callbacks carry no short code: the keyword alone then finds a campaign
        of the callback's kind, whatever its short code.
        """
        shortcode, keyword = shortcode.strip(), clean_keyword(keyword)
        if not shortcode:
            found = self.filter(same_text("keyword", keyword), kind=kind).order_by("id").first()
            if found is not None:
                return found
        return first_or_create(
            self.matching(shortcode, keyword),
            shortcode=shortcode,
            keyword=keyword,
            kind=kind,
            name=keyword,
            needs_review=True,
        )


class Campaign(models.Model):
    shortcode = models.CharField(
        "short code", max_length=20, blank=True, help_text="Blank for Text-4-Info keywords."
    )
    keyword = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FORM)
    name = models.CharField(max_length=200, blank=True)
    reply_text = models.TextField(
        blank=True, help_text="Text-4-Info: the text sent back to the subscriber."
    )
    needs_review = models.BooleanField(
        default=False, help_text="Created automatically from a keyword nobody set up yet."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    change_seq = change_seq_field()

    objects = CampaignManager()

    class Meta:
        ordering = ("-needs_review", "shortcode", "keyword")
        indexes = [changes_index("campaign_changes")]
        constraints = [
            models.UniqueConstraint(
                "shortcode",
                Lower("keyword"),
                name="campaign_keyword_unique_per_shortcode",
                violation_error_message="This short code already has a campaign with this "
                "keyword (keywords match whatever their case).",
            ),
        ]

    def __str__(self) -> str:
        label = self.name or self.keyword
        return f"{label} ({self.shortcode} {self.keyword})" if self.shortcode else label

    def save(self, *args, **kwargs):
        self.keyword = clean_keyword(self.keyword)
        self.shortcode = self.shortcode.strip()
        super().save(*args, **kwargs)

    def choice_for(self, reply: str, label: str) -> "PollChoice":
        """The configured choice for a reply code, created from the callback's label if new.

        A label a marketer configured is never overwritten by a callback.
        """
        reply = reply.strip()
        return first_or_create(
            self.choices.filter(same_text("reply", reply)),
            campaign=self,
            reply=reply,
            label=label.strip() or reply,
            from_callback=True,
            order=1000,
        )


# A campaign as a spreadsheet row, in the admin's export and the API's CSV (which adds the id
# and the choices around it): (header, .values_list() path).
CAMPAIGN_COLUMNS = (
    ("shortcode", "shortcode"),
    ("keyword", "keyword"),
    ("kind", "kind"),
    ("name", "name"),
    ("reply_text", "reply_text"),
    ("needs_review", "needs_review"),
    ("created_at", "created_at"),
)


class PollChoice(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="choices")
    reply = models.CharField(max_length=64, help_text='What the subscriber texts, e.g. "A".')
    label = models.CharField(max_length=255, help_text='What it means, e.g. "Tampa".')
    order = models.PositiveIntegerField(default=0)
    from_callback = models.BooleanField(
        default=False,
        help_text="Created from a reply that matched no configured choice; uncheck once reviewed.",
    )
    change_seq = change_seq_field()

    class Meta:
        ordering = ("campaign", "order", "reply")
        indexes = [changes_index("pollchoice_changes")]
        constraints = [
            models.UniqueConstraint(
                "campaign",
                Lower("reply"),
                name="poll_choice_reply_unique_per_campaign",
                violation_error_message="This poll already has a choice with this reply "
                "(replies match whatever their case).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reply}: {self.label}"

    def save(self, *args, **kwargs):
        self.reply = self.reply.strip()
        super().save(*args, **kwargs)


class Response(models.Model):
    """What one callback recorded: who, for which campaign, when, and what else was sent."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="%(class)ss")
    subscriber = models.ForeignKey(
        "crm.Subscriber", on_delete=models.CASCADE, related_name="%(class)ss"
    )
    callback = models.OneToOneField(
        "callbacks.CallbackEvent", on_delete=models.PROTECT, related_name="%(class)s"
    )
    received_at = models.DateTimeField(default=timezone.now)
    extras = models.JSONField(
        default=dict, blank=True, help_text="Parameters beyond the documented ones."
    )
    change_seq = change_seq_field()

    class Meta:
        abstract = True
        ordering = ("-received_at", "-id")
        get_latest_by = "received_at"
        indexes = [
            models.Index(fields=["campaign", "received_at"]),
            models.Index(fields=["subscriber", "received_at"]),
            models.Index(fields=["received_at"]),
            changes_index("%(class)s_changes"),
        ]


class PollResponse(Response):
    choice = models.ForeignKey(PollChoice, on_delete=models.PROTECT, related_name="responses")
    reply = models.CharField(max_length=64, help_text="As received.")
    label = models.CharField(max_length=255, blank=True, help_text="As received.")

    class Meta(Response.Meta):
        # Poll results read these indexes alone (index-only scans), see campaigns/results.py:
        # each subscriber's latest vote in index order, and votes and voters per choice.
        indexes = [
            *Response.Meta.indexes,
            models.Index(
                fields=["campaign", "subscriber", "-received_at", "-id"],
                include=["choice"],
                name="pollresponse_latest_vote",
            ),
            models.Index(
                fields=["campaign", "choice", "subscriber"],
                include=["received_at"],
                name="pollresponse_choice_voters",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reply} from {self.subscriber_id}"


class InfoRequest(Response):
    message = models.TextField(blank=True, help_text="The text of the incoming SMS.")

    def __str__(self) -> str:
        return self.message[:40] or "(no text)"


class FormSubmission(Response):
    fields = models.JSONField(default=dict, blank=True, help_text="Custom fields as received.")

    def __str__(self) -> str:
        return ", ".join(self.fields) or "(no fields)"
