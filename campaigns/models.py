import re
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Case, Count, OuterRef, Subquery, Sum, Value, When
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from lib.models import first_or_create
from lib.sync import change_seq_field, changes_index
from lib.text import same_text

# ANSI escape sequences (colours, cursor moves): ESC [ … letter, or ESC and one character.
ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
# Control (Cc) and format (Cf) characters: NUL, ESC, zero-width space and joiners, BOM…
INVISIBLE = ("Cc", "Cf")


def clean_keyword(keyword: str) -> str:
    """A keyword as shown: escape sequences and invisible characters removed, spaces
    collapsed; otherwise as first sent (case, accents and width kept)."""
    text = ANSI_ESCAPE.sub("", keyword or "")
    # Whitespace controls (tab, newline) separate words; the other invisibles vanish.
    text = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char) not in INVISIBLE
    )
    return " ".join(text.split())


def keyword_key(keyword: str) -> str:
    """The form keywords are compared in, in Python, the same on every database: NFKC
    (fullwidth ＫＥＹ is KEY, decomposed café is composed café), case folded (CAFÉ is
    café, ß is ss), the dotted capital I's dot dropped (PİZZA is PIZZA, as a Turkish phone
    would type it), invisible characters removed, spaces collapsed."""
    text = unicodedata.normalize("NFKC", clean_keyword(keyword)).casefold()
    text = unicodedata.normalize("NFKC", text).replace("i\u0307", "i")
    return clean_keyword(text)


class Kind(models.TextChoices):
    # A web form or sticky session captured the subscriber's details.
    FORM = "form", "Web form / sticky session"
    # The subscriber voted in a poll by replying with a choice code.
    POLL = "poll", "Poll"
    # The subscriber texted a keyword and gets the campaign's reply.
    INFO = "info", "Text-4-Info"


class CampaignQuerySet(models.QuerySet):
    def with_keyword(self, keyword: str) -> "CampaignQuerySet":
        """Campaigns whose keyword is this one, compared in its canonical form."""
        return self.filter(keyword_key=keyword_key(keyword))

    def matching(self, kind: str, shortcode: str, keyword: str) -> "CampaignQuerySet":
        return self.with_keyword(keyword).filter(shortcode=shortcode.strip(), kind=kind)

    def bulk_create(self, objs, *args, **kwargs):
        # No save() runs here: set each key as save() would.
        objs = list(objs)
        for campaign in objs:
            campaign.normalise()
        return super().bulk_create(objs, *args, **kwargs)

    def with_activity(self) -> "CampaignQuerySet":
        """Each campaign's responses, distinct subscribers and latest response.

        Per row, from its own kind's table only, through the (campaign, ...) indexes: meant for
        a page of campaigns (the subqueries run for the rows returned, not the whole table).
        A poll's counts come from the counters the database keeps: its votes from PollTally,
        its voters from PollNewVoters, which counts each voter once and has no row per choice
        (a fifth of the rows to add up: 9 against 45 ms for a 333,000-vote poll). Counting a
        poll's distinct voters from its votes took half a second.
        """

        def per_row(model, aggregate):
            rows = model.objects.filter(campaign=OuterRef("pk")).order_by().values("campaign")
            return Subquery(rows.annotate(v=aggregate).values("v")[:1])

        def by_kind(default, **figures):
            whens = [When(kind=kind, then=Coalesce(f, default)) for kind, f in figures.items()]
            return Case(*whens, default=default)

        def latest(model):
            # The newest row through the (campaign, received_at) index: MAX() per group would
            # read all of a campaign's rows.
            rows = model.objects.filter(campaign=OuterRef("pk")).order_by("-received_at")
            return Subquery(rows.values("received_at")[:1])

        return self.annotate(
            responses=by_kind(
                Value(0),
                poll=per_row(PollTally, Sum("votes")),
                info=per_row(InfoRequest, Count("*")),
                form=per_row(FormSubmission, Count("*")),
            ),
            subscribers=by_kind(
                Value(0),
                poll=per_row(PollNewVoters, Sum("voters")),
                info=per_row(InfoRequest, Count("subscriber", distinct=True)),
                form=per_row(FormSubmission, Count("subscriber", distinct=True)),
            ),
            last_activity_at=by_kind(
                Value(None, models.DateTimeField()),
                poll=latest(PollResponse),
                info=latest(InfoRequest),
                form=latest(FormSubmission),
            ),
        )

    def mark_reviewed(self) -> int:
        """A marketer has looked at these campaigns made from unknown keywords."""
        return self.filter(needs_review=True).update(needs_review=False)


class CampaignManager(models.Manager.from_queryset(CampaignQuerySet)):
    def for_callback(self, kind: str, shortcode: str, keyword: str) -> "Campaign":
        """The campaign a callback belongs to, created for review when nobody set it up.

        A campaign has one kind: a callback of another kind for a short code and keyword
        set up as, say, a form gets a campaign of its own kind, flagged with the reason,
        never mixed into the form's. Text-4-Info callbacks carry no short code: the keyword
        alone then finds a campaign of the callback's kind, whatever its short code.
        """
        shortcode, keyword = shortcode.strip(), clean_keyword(keyword)
        if not shortcode:
            found = self.with_keyword(keyword).filter(kind=kind).order_by("id").first()
            if found is not None:
                return found
        found = self.matching(kind, shortcode, keyword).first()
        if found is not None:
            return found
        return first_or_create(
            self.matching(kind, shortcode, keyword),
            shortcode=shortcode,
            keyword=keyword,
            kind=kind,
            name=keyword,
            needs_review=True,
            review_reason=self.review_reason(kind, shortcode, keyword),
        )

    def review_reason(self, kind: str, shortcode: str, keyword: str) -> str:
        """Why a campaign made from a callback needs a marketer's look."""
        other = self.with_keyword(keyword).filter(shortcode=shortcode).order_by("id").first()
        if other is None:
            return "Made from a callback: nobody had set up this keyword."
        return (
            f"Made from a {Kind(kind).label} callback for a keyword set up as "
            f"{Kind(other.kind).label} (campaign #{other.pk}); kept apart from it."
        )


class Campaign(models.Model):
    shortcode = models.CharField(
        "short code", max_length=20, blank=True, help_text="Blank for Text-4-Info keywords."
    )
    keyword = models.CharField(max_length=64, help_text="As first sent or typed.")
    # What keywords are compared by (keyword_key()); set from the keyword on every save.
    keyword_key = models.CharField(max_length=200, editable=False)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.FORM)
    name = models.CharField(max_length=200, blank=True)
    reply_text = models.TextField(
        blank=True, help_text="Text-4-Info: the text sent back to the subscriber."
    )
    needs_review = models.BooleanField(
        default=False, help_text="Created automatically from a keyword nobody set up yet."
    )
    review_reason = models.TextField(blank=True, help_text="Why it needs review.")
    duplicate_window = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds within which an identical callback counts as the sender's retry "
        "and is not counted again; blank: the CALLBACK_DUPLICATE_WINDOW setting; 0: never.",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    change_seq = change_seq_field()

    objects = CampaignManager()

    class Meta:
        ordering = ("-needs_review", "shortcode", "keyword")
        indexes = [changes_index("campaign_changes")]
        constraints = [
            models.UniqueConstraint(
                fields=("shortcode", "keyword_key", "kind"),
                name="campaign_keyword_unique_per_shortcode_and_kind",
                violation_error_message="This short code already has a campaign of this kind "
                "with this keyword (keywords match whatever their case, width or accents' "
                "encoding).",
            ),
        ]

    def __str__(self) -> str:
        label = self.name or self.keyword
        return f"{label} ({self.shortcode} {self.keyword})" if self.shortcode else label

    def save(self, *args, **kwargs):
        self.normalise()
        super().save(*args, **kwargs)

    def clean(self):
        self.normalise()
        if not self.keyword:
            raise ValidationError({"keyword": "A keyword needs at least one visible character."})

    def validate_constraints(self, exclude=None):
        # The key is no form field, but it follows the keyword: check it whenever the
        # keyword is checked, so a duplicate is a form error, not an IntegrityError.
        if exclude and "keyword" not in exclude:
            exclude = set(exclude) - {"keyword_key"}
        super().validate_constraints(exclude)

    def normalise(self) -> None:
        self.keyword = clean_keyword(self.keyword)
        self.keyword_key = keyword_key(self.keyword)
        self.shortcode = self.shortcode.strip()

    def effective_duplicate_window(self) -> int:
        if self.duplicate_window is not None:
            return self.duplicate_window
        return settings.CALLBACK_DUPLICATE_WINDOW

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


class CatalogVersion(models.Model):
    """One row whose number changes whenever a campaign or a poll choice does.

    The database rewrites it (triggers from migration 0006, on every insert, update and
    delete, whoever makes them), so each process can keep its campaign and choice lookups
    and know, with one indexed read, when another process or node has made them stale.
    """

    version = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return str(self.version)


# A campaign as a spreadsheet row, in the admin's export and the API's CSV (which adds the id
# and the choices around it): (header, .values_list() path).
CAMPAIGN_COLUMNS = (
    ("shortcode", "shortcode"),
    ("keyword", "keyword"),
    ("kind", "kind"),
    ("name", "name"),
    ("reply_text", "reply_text"),
    ("needs_review", "needs_review"),
    ("review_reason", "review_reason"),
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


class PollTally(models.Model):
    """A poll's votes counted per choice and quarter hour (UTC) as they arrive, by the database.

    Triggers from the migration keep these rows exact whoever writes the responses; see
    campaigns/tallies.py for what each counter means and how ranges are read from them.
    Each (campaign, quarter, choice) has up to SLOTS rows (by subscriber), so concurrent votes
    for the same choice do not queue on one row; readers sum them.
    """

    # No foreign keys in the database: only the triggers write these rows, and a statement
    # that empties every table in any order (a test's flush) must not trip over them.
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    choice = models.ForeignKey(
        PollChoice, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    quarter = models.DateTimeField(help_text="The start of the quarter hour, UTC.")
    slot = models.SmallIntegerField()
    # Every vote received in the quarter hour.
    votes = models.IntegerField(default=0)
    # Subscribers whose latest vote in the poll was received in the quarter, for this choice.
    latest = models.IntegerField(default=0)
    # Subscribers whose latest vote for this choice was received in the quarter.
    voters = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "quarter", "choice", "slot"), name="polltally_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.quarter:%Y-%m-%d %H:%M} {self.choice_id}: {self.votes}"


class PollNewVoters(models.Model):
    """A poll's voters counted, by the database, at the quarter hour (UTC) of the earlier of
    their first_seen_at and their latest vote in the poll.

    A voter is new in a range that runs to the poll's end, from `since`, exactly when both are
    at or after `since`: they voted in it and the CRM first saw them in it. So the new voters
    of such a range are these counts summed from `since` on. See campaigns/tallies.py.
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    quarter = models.DateTimeField(help_text="The start of the quarter hour, UTC.")
    slot = models.SmallIntegerField()
    voters = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "quarter", "slot"), name="pollnewvoters_key"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.quarter:%Y-%m-%d %H:%M}: {self.voters}"


class PollRangeTally(models.Model):
    """PostgreSQL: a poll's votes counted, by the database, per choice, quarter hour (UTC) of
    the vote and day (in the site's time zone) of the voter's next vote: the latest votes and
    voters of ranges that end on a midnight before the poll's last vote. See
    campaigns/tallies.py."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    choice = models.ForeignKey(
        PollChoice, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    quarter = models.DateTimeField(help_text="The start of the vote's quarter hour, UTC.")
    next_day = models.DateField(help_text="The day of the voter's next vote, a later one.")
    slot = models.SmallIntegerField()
    # Votes whose voter's next vote in the poll is on next_day.
    latest = models.IntegerField(default=0)
    # Votes whose voter's next vote for the same choice is on next_day.
    voters = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "quarter", "choice", "next_day", "slot"),
                name="pollrangetally_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.quarter:%Y-%m-%d %H:%M} {self.choice_id} {self.next_day}"


class PollRangeNewVoters(models.Model):
    """PostgreSQL: a poll's votes whose voter's previous vote is on an earlier day, counted by
    day of the vote, of that previous vote and of the earlier of the vote and the voter's
    first_seen_at (days in the site's time zone): the new voters of ranges that end on a
    midnight before the poll's last vote."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    day = models.DateField()
    prev_day = models.DateField(help_text="The day of the previous vote; 0001-01-01: none.")
    seen_day = models.DateField()
    slot = models.SmallIntegerField()
    voters = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=("campaign", "day", "prev_day", "seen_day", "slot"),
                name="pollrangenewvoters_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.day} {self.prev_day} {self.seen_day}: {self.voters}"


class InfoRequest(Response):
    message = models.TextField(blank=True, help_text="The text of the incoming SMS.")

    def __str__(self) -> str:
        return self.message[:40] or "(no text)"


class FormSubmission(Response):
    fields = models.JSONField(default=dict, blank=True, help_text="Custom fields as received.")

    def __str__(self) -> str:
        return ", ".join(self.fields) or "(no fields)"


class Segment(models.Model):
    """Subscribers picked by the subscriber list's filters and search, saved under a name.

    The definition is the list's query string, filter and search parameters only
    (campaigns.segments reads it through the list itself): a segment selects what the list
    selected when it was saved, and follows the data as it changes.
    """

    name = models.CharField(max_length=100)
    query = models.TextField(
        "definition",
        max_length=2000,
        blank=True,
        help_text="The subscriber list's filters and search, as in its address after the “?”. "
        "“Save as segment” on the subscriber list fills it in; empty: every subscriber.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        editable=False,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("name", "id")

    def __str__(self) -> str:
        return self.name
