"""Segments: the subscriber list's filters saved under a name, counted, exported, and used as a
filter on the response lists and the results page."""

import csv
import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.models import F
from django.http import QueryDict
from django.utils import timezone

from campaigns.models import Campaign, Kind, PollChoice, Segment
from campaigns.segments import definition
from subscribers.models import Subscriber, with_field_starting
from tests.helpers import queries, receive, vote

SUBSCRIBERS = "/admin/crm/subscriber/"
SEGMENTS = "/admin/campaigns/segment/"
VOTES = "/admin/campaigns/pollresponse/"


@pytest.fixture
def poll(db) -> Campaign:
    """Best city (84700 FB1): who voted what, and their zips.

    1001 voted B, zip 10024      1002 voted B, zip 90210
    1003 voted A, zip 10001      1004 voted A then B, zip 10003
    """
    campaign = Campaign.objects.create(
        name="Best city", shortcode="84700", keyword="FB1", kind=Kind.POLL
    )
    PollChoice.objects.create(campaign=campaign, reply="A", label="Tampa", order=1)
    PollChoice.objects.create(campaign=campaign, reply="B", label="Miami", order=2)
    people = {"1001": ("B", "10024"), "1002": ("B", "90210"), "1003": ("A", "10001")}
    people["1004"] = ("AB", "10003")
    for last, (replies, zip_code) in people.items():
        mobile = f"212555{last}"
        for reply in replies:
            vote(mobile, reply, key="FB1", shortcode="84700", label="")
        receive("form", shortcode="84700", key="JOIN", mobile=mobile, Zip=zip_code)
    return campaign


def miami_100(poll: Campaign) -> str:
    """The subscriber list's address for "voted B in FB1, zip 100xx"."""
    miami = poll.choices.get(reply="B")
    return f"took_part_in={poll.pk}&voted={miami.pk}&field=Zip&field_starts=100"


def mobiles_on(page) -> set[str]:
    return {str(row.mobile) for row in page.context["cl"].result_list}


def test_subscribers_are_filtered_by_the_choice_they_voted(admin_client, poll):
    miami = poll.choices.get(reply="B")

    page = admin_client.get(SUBSCRIBERS, {"took_part_in": poll.pk, "voted": miami.pk})

    assert mobiles_on(page) == {"+12125551001", "+12125551002", "+12125551004"}
    voted = next(s for s in page.context["cl"].filter_specs if s.title == "voted")
    assert [label for _, label in voted.lookup_choices] == ["A: Tampa", "B: Miami"]
    # Voting in the poll is taking part in it: its votes are read once, by the choice.
    assert str(page.context["cl"].queryset.query).count('"campaigns_pollresponse"') == 1
    other = Campaign.objects.create(shortcode="84700", keyword="FB2", kind=Kind.POLL)
    vote("2125551001", "A", key="FB2", shortcode="84700", label="")
    both = admin_client.get(SUBSCRIBERS, {"took_part_in": other.pk, "voted": miami.pk})
    assert mobiles_on(both) == {"+12125551001"}


def test_subscribers_are_filtered_by_the_start_of_a_custom_field(admin_client, poll):
    page = admin_client.get(SUBSCRIBERS, {"field": "Zip", "field_starts": "100"})
    assert mobiles_on(page) == {"+12125551001", "+12125551003", "+12125551004"}
    assert 'name="field_starts" value="100"' in page.content.decode()

    # The field's name is matched exactly; its value from the start, any case; % is a character.
    assert (
        mobiles_on(admin_client.get(SUBSCRIBERS, {"field": "zip", "field_starts": "100"})) == set()
    )
    assert (
        mobiles_on(admin_client.get(SUBSCRIBERS, {"field": "Zip", "field_starts": "0024"})) == set()
    )
    assert (
        mobiles_on(admin_client.get(SUBSCRIBERS, {"field": "Zip", "field_starts": "1%"})) == set()
    )
    Subscriber.objects.filter(mobile="+12125551002").update(fields={"City": "Zürich"})
    found = with_field_starting(Subscriber.objects.all(), "City", "zü")
    assert [s.mobile for s in found] == ["+12125551002"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigram index")
def test_the_custom_field_filter_can_use_the_trigram_index(poll):
    found = with_field_starting(Subscriber.objects.all(), "Zip", "100")
    with connection.cursor() as cursor:
        # A handful of rows: the planner would rather scan; what matters is that it can.
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = found.explain()
    assert "subscriber_fields_trgm" in plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's trigram index")
def test_a_value_most_subscribers_share_is_tested_on_each_row_not_through_the_index(db):
    """The index's rows are each cast to text to be checked again: for a common value reading
    every row is faster. Either way the same subscribers are found."""
    Subscriber.objects.bulk_create(
        Subscriber(mobile=f"+1212555{n:04}", fields={"Zip": "10024" if n % 50 else "33602"})
        for n in range(1000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_subscriber")

    common = with_field_starting(Subscriber.objects.all(), "Zip", "100")
    rare = with_field_starting(Subscriber.objects.all(), "Zip", "336")

    assert (common.count(), rare.count()) == (980, 20)
    whole_text = '"crm_subscriber"."fields"::text'  # what the trigram index is on
    assert whole_text not in str(common.query)
    assert whole_text in str(rare.query)


def test_the_subscriber_list_offers_to_save_its_filters_as_a_segment(admin_client, poll):
    page = admin_client.get(f"{SUBSCRIBERS}?{miami_100(poll)}&o=2&p=1&q=212")

    link = page.context["save_segment_url"]
    assert urlsplit(link).path == SEGMENTS + "add/"
    saved = QueryDict(parse_qs(urlsplit(link).query)["query"][0])
    # What selects subscribers is kept; how the page is shown (order, page) is not.
    assert dict(saved.items()) == {**dict(QueryDict(miami_100(poll)).items()), "q": "212"}
    assert 'class="save-segment"' in page.content.decode()


def test_a_marketer_saves_a_segment_and_sees_it_in_words_with_its_count(
    admin_client, admin_user, poll
):
    form = admin_client.get(SEGMENTS + "add/", {"query": miami_100(poll)})
    assert form.context["adminform"].form["query"].value() == miami_100(poll)
    words = "Zip starts with “100” · took part in Best city (84700 FB1) · voted B: Miami"
    assert f"Selects: {words}." in form.content.decode()

    response = admin_client.post(
        SEGMENTS + "add/", {"name": "  Miami   fans, NYC ", "query": "?" + miami_100(poll)}
    )

    assert response.status_code == 302
    segment = Segment.objects.get()
    assert (segment.name, segment.created_by) == ("Miami fans, NYC", admin_user)
    page = admin_client.get(SEGMENTS)
    assert words in page.content.decode()
    assert counts_on(admin_client, page) == {"Miami fans, NYC": "2"}
    count = admin_client.get(f"{SEGMENTS}{segment.pk}/count/").content.decode()
    assert count == f'<a class="segment-count" href="{SUBSCRIBERS}?segment={segment.pk}">2</a>'


def test_a_segment_filters_the_subscriber_list_and_its_exports(admin_client, poll):
    segment = Segment.objects.create(name="Miami fans", query=miami_100(poll))

    page = admin_client.get(SUBSCRIBERS, {"segment": segment.pk})
    assert mobiles_on(page) == {"+12125551001", "+12125551004"}

    exported = admin_client.get(SUBSCRIBERS + "export.csv", {"segment": segment.pk})
    rows = list(csv.DictReader(io.StringIO(b"".join(exported.streaming_content).decode())))
    assert sorted(row["Mobile"] for row in rows) == ["+12125551001", "+12125551004"]
    assert {row["Zip"] for row in rows} == {"10024", "10003"}
    xlsx = admin_client.get(SUBSCRIBERS + "export.xlsx", {"segment": segment.pk})
    assert xlsx.status_code == 200
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")


def test_a_segment_filters_the_response_lists(admin_client, poll):
    segment = Segment.objects.create(name="Miami fans", query=miami_100(poll))
    receive("info", lead="HOURS", mobile="2125551001", msg="hi")
    receive("info", lead="HOURS", mobile="2125551002", msg="hi")

    votes = admin_client.get(VOTES, {"segment": segment.pk}).context["cl"].result_list
    assert sorted((str(v.subscriber), v.reply) for v in votes) == [
        ("+12125551001", "B"),
        ("+12125551004", "A"),
        ("+12125551004", "B"),
    ]
    info = admin_client.get("/admin/campaigns/inforequest/", {"segment": segment.pk})
    assert [str(r.subscriber) for r in info.context["cl"].result_list] == ["+12125551001"]
    forms = admin_client.get("/admin/campaigns/formsubmission/", {"segment": segment.pk})
    assert len(forms.context["cl"].result_list) == 2
    offered = next(s for s in info.context["cl"].filter_specs if s.title == "segment")
    assert offered.lookup_choices == [(str(segment.pk), "Miami fans")]


def test_the_results_page_counts_only_the_segments_voters(admin_client, poll):
    segment = Segment.objects.create(name="Zip 100", query="field=Zip&field_starts=100")
    results = f"/admin/campaigns/campaign/{poll.pk}/results/"

    page = admin_client.get(results, {"segment": segment.pk})
    counts = {r.choice.reply: r.votes for r in page.context["results"].choices}
    assert counts == {"A": 2, "B": 2}  # 1003 A, 1004 A and B, 1001 B
    assert page.context["results"].voters == 3
    assert "from the subscribers of the segment" in page.content.decode()

    latest = admin_client.get(results, {"segment": segment.pk, "counting": "latest"})
    assert {r.choice.reply: r.votes for r in latest.context["results"].choices} == {"A": 1, "B": 2}
    csv_text = admin_client.get(results, {"segment": segment.pk, "format": "csv"})
    assert "Miami,configured,2,2" in b"".join(csv_text.streaming_content).decode()
    everyone = admin_client.get(results).context["results"]
    assert {r.choice.reply: r.votes for r in everyone.choices} == {"A": 2, "B": 3}
    carriers = admin_client.get(f"{results}by/carrier/", {"segment": segment.pk})
    assert carriers.context["breakdown"].rows[0].total == 4


def test_a_segment_naming_a_deleted_campaign_selects_nobody_and_says_why(admin_client, poll):
    gone = Campaign.objects.create(shortcode="84700", keyword="GONE", kind=Kind.INFO)
    segment = Segment.objects.create(name="Gone fans", query=f"took_part_in={gone.pk}")
    gone_id = gone.pk
    gone.delete()

    page = admin_client.get(SEGMENTS)
    assert f"took part in #{gone_id}: no longer exists." in page.content.decode()
    assert counts_on(admin_client, page) == {"Gone fans": "0"}
    listed = admin_client.get(SUBSCRIBERS, {"segment": segment.pk}, follow=True)
    assert mobiles_on(listed) == set()
    assert "selects nobody" in listed.content.decode()
    results = admin_client.get(
        f"/admin/campaigns/campaign/{poll.pk}/results/", {"segment": segment.pk}
    )
    assert results.status_code == 200 and results.context["results"] is None
    assert "selects nobody" in results.content.decode()
    as_csv = admin_client.get(
        f"/admin/campaigns/campaign/{poll.pk}/results/", {"segment": segment.pk, "format": "csv"}
    )
    assert as_csv.status_code == 400


@pytest.mark.parametrize(
    "query",
    ["nonsense=1", "pollresponses__reply=A", "took_part_in=x", "last_seen_at__year=abc", "%ff=%00"],
)
def test_a_definition_the_list_refuses_is_a_form_error(admin_client, poll, query):
    response = admin_client.post(SEGMENTS + "add/", {"name": "Bad", "query": query})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["query"]
    assert not Segment.objects.exists()


def test_hostile_names_and_stored_definitions_never_break_the_pages(admin_client, poll):
    Segment.objects.create(name="<script>alert(1)</script>", query="nonsense=1&q=<b>")
    Segment.objects.create(name="=HYPERLINK(x)", query=f"took_part_in={poll.pk}&q=%00")

    page = admin_client.get(SEGMENTS)

    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content.decode()
    assert "The subscriber list refuses it" in page.content.decode()
    assert "A filter holds a NUL character." in page.content.decode()
    # The list's own custom-field filter leaves NUL out.
    listed = admin_client.get(SUBSCRIBERS, {"field": "Zip\x00", "field_starts": "\x00100"})
    assert mobiles_on(listed) == {"+12125551001", "+12125551003", "+12125551004"}


def test_definitions_keep_filters_and_search_and_inline_a_segment(poll):
    segment = Segment.objects.create(name="Miami fans", query=miami_100(poll))

    kept = definition(QueryDict(f"segment={segment.pk}&field_starts=1002&p=3&o=1&e=1&q=&all="))

    assert QueryDict(kept).dict() == {**QueryDict(miami_100(poll)).dict(), "field_starts": "1002"}


def test_segments_are_for_staff_with_the_segment_permissions(client, django_user_model, poll):
    segment = Segment.objects.create(name="Miami fans", query=miami_100(poll))
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    for codename in ("view_subscriber", "view_pollresponse", "view_campaign"):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(user)

    page = client.get(SUBSCRIBERS)
    assert "save_segment_url" not in page.context
    assert all(spec.title != "segment" for spec in page.context["cl"].filter_specs)
    assert mobiles_on(client.get(SUBSCRIBERS, {"segment": segment.pk})) == set()
    assert client.get(SEGMENTS).status_code == 403
    assert (
        "segment"
        not in client.get(f"/admin/campaigns/campaign/{poll.pk}/results/").context["form"].fields
    )

    user.user_permissions.add(Permission.objects.get(codename="view_segment"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(SEGMENTS).status_code == 200
    assert mobiles_on(client.get(SUBSCRIBERS, {"segment": segment.pk})) == {
        "+12125551001",
        "+12125551004",
    }
    assert client.get(SEGMENTS + "add/").status_code == 403


def counts_on(client, page) -> dict[str, str]:
    """Each segment's name on the segments list, and its count as the page fetches it."""
    rows = re.findall(
        r'<a href="[^"]*/change/"[^>]*>([^<]+)</a>.*?hx-get="([^"]+)"',
        page.content.decode(),
        re.S,
    )
    link = r'<a class="segment-count" href="[^"]+">([^<]+)</a>'
    return {name: re.fullmatch(link, client.get(url).content.decode())[1] for name, url in rows}


def test_the_segments_list_takes_as_many_queries_for_a_dozen_segments_as_for_two(
    admin_client, django_user_model, poll
):
    # The second page of definitions names other polls, choices, filters and authors: a
    # query per row, per poll or per author would show.
    quiz = Campaign.objects.create(name="Quiz", shortcode="84700", keyword="QZ", kind=Kind.POLL)
    yes = PollChoice.objects.create(campaign=quiz, reply="Y", label="Yes", order=1)
    vote("2125551003", "Y", key="QZ", shortcode="84700", label="")
    gone = Campaign.objects.create(shortcode="84700", keyword="GONE", kind=Kind.INFO)
    gone_id = gone.pk
    gone.delete()
    definitions = [
        ("Miami 100", miami_100(poll)),
        ("Zip 9", "field=Zip&field_starts=9"),
        ("Quiz yes", f"took_part_in={quiz.pk}&voted={yes.pk}"),
        ("Tampa", f"voted={poll.choices.get(reply='A').pk}"),
        ("US", "country=US"),
        ("Search 90210", "q=90210"),
        ("Seen this week", "last_seen_at__within=past_7_days"),
        ("Imported", "imported_at__isnull=False"),
        ("Gone", f"took_part_in={gone_id}"),
        ("Everyone", ""),
        ("First seen 2026", "first_seen_at__year=2026"),
        ("Quiz", f"took_part_in={quiz.pk}"),
    ]
    for name, query in definitions[:2]:
        Segment.objects.create(name=name, query=query)
    two, page = queries(admin_client, SEGMENTS)
    assert counts_on(admin_client, page) == {"Miami 100": "2", "Zip 9": "1"}

    for n, (name, query) in enumerate(definitions[2:]):
        author = django_user_model.objects.create_user(f"marketer{n}", is_staff=True)
        Segment.objects.create(name=name, query=query, created_by=author)
    twelve, page = queries(admin_client, SEGMENTS)

    assert twelve == two
    # Each row's count is a request of its own that the page makes once shown (htmx).
    shown = counts_on(admin_client, page)
    assert len(shown) == 12
    assert (shown["Quiz yes"], shown["Tampa"], shown["Search 90210"]) == ("1", "2", "1")
    assert (shown["Gone"], shown["Imported"], shown["Everyone"]) == ("0", "0", "4")


def test_a_segment_saved_from_past_7_days_stays_the_last_7_days(admin_client, poll):
    """Time moves through the data: the subscribers' first-seen times are moved back."""
    now = timezone.now()
    ages = {"+12125551001": 3, "+12125551002": 10, "+12125551003": 40, "+12125551004": 0}
    for mobile, days in ages.items():
        Subscriber.objects.filter(mobile=mobile).update(first_seen_at=now - timedelta(days=days))
    listed = admin_client.get(SUBSCRIBERS)
    first_seen = next(s for s in listed.context["cl"].filter_specs if s.title == "first seen at")
    link = next(
        c["query_string"]
        for c in first_seen.choices(listed.context["cl"])
        if c["display"] == "Past 7 days"
    )

    filtered = admin_client.get(SUBSCRIBERS + link)
    assert mobiles_on(filtered) == {"+12125551001", "+12125551004"}
    saved_query = parse_qs(urlsplit(filtered.context["save_segment_url"]).query)["query"][0]
    admin_client.post(SEGMENTS + "add/", {"name": "New this week", "query": saved_query})

    segment = Segment.objects.get()
    assert segment.query == "first_seen_at__within=past_7_days"  # a name, no date
    page = admin_client.get(SEGMENTS)
    assert "first seen at Past 7 days" in page.content.decode()
    assert counts_on(admin_client, page) == {"New this week": "2"}

    # Five days on: 1001 is 8 days old, 1004 is 5; nobody else has arrived.
    Subscriber.objects.update(first_seen_at=F("first_seen_at") - timedelta(days=5))
    assert counts_on(admin_client, admin_client.get(SEGMENTS)) == {"New this week": "1"}
    in_list = admin_client.get(SUBSCRIBERS, {"segment": segment.pk})
    assert mobiles_on(in_list) == {"+12125551004"}
    # A new subscriber today joins it.
    Subscriber.objects.filter(mobile="+12125551003").update(first_seen_at=timezone.now())
    assert counts_on(admin_client, admin_client.get(SEGMENTS)) == {"New this week": "2"}


def test_a_date_range_in_dates_stays_fixed(admin_client, poll):
    """What a segment made before rolling names were kept (dates) keeps meaning those dates."""
    today = timezone.localdate()
    query = f"first_seen_at__gte={today - timedelta(days=7)}&first_seen_at__lt={today}"
    Subscriber.objects.filter(mobile="+12125551001").update(
        first_seen_at=timezone.now() - timedelta(days=2)
    )
    Segment.objects.create(name="That week", query=query)

    page = admin_client.get(SEGMENTS)

    assert counts_on(admin_client, page) == {"That week": "1"}
    assert (
        f"first seen at from {today - timedelta(days=7)}, before {today}" in page.content.decode()
    )


def test_a_segments_page_shows_what_it_selects_and_renames_it(admin_client, poll):
    segment = Segment.objects.create(name="Miami fans", query=miami_100(poll))
    page = admin_client.get(f"{SEGMENTS}{segment.pk}/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "took part in Best city (84700 FB1) · voted B: Miami" in text
    assert f'hx-get="{SEGMENTS}{segment.pk}/count/"' in text  # the count follows the page

    saved = admin_client.post(
        f"{SEGMENTS}{segment.pk}/change/", {"name": "Miami, NYC", "query": segment.query}
    )
    assert saved.status_code == 302
    segment.refresh_from_db()
    assert (segment.name, segment.query) == ("Miami, NYC", miami_100(poll))
