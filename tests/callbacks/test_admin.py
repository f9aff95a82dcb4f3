import json
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import Permission
from django.utils import timezone

from callbacks.models import CallbackEvent, Outcome
from campaigns.models import Campaign, PollResponse
from crm.dashboard import campaign_activity
from tests.helpers import (
    ESTIMATE_QUERY,
    numbers,
    queries,
    receive,
    request_callback,
    request_vote,
)

EVENTS = "/admin/callbacks/callbackevent/"


def test_endpoint_page_shows_its_three_urls(admin_client, endpoint):
    page = admin_client.get(f"/admin/callbacks/endpoint/{endpoint.pk}/change/").content.decode()

    for kind in ("form", "poll", "info"):
        assert f"<code>http://testserver/callbacks/{endpoint.token}/{kind}/</code>" in page
    assert 'name="token"' not in page  # shown, not editable


def test_callback_log_links_each_event_to_the_row_it_produced(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    row = PollResponse.objects.get()

    page = admin_client.get(EVENTS).content.decode()

    assert f"/admin/campaigns/pollresponse/{row.pk}/change/" in page


def test_callback_log_filters_by_outcome(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    admin_client.get(endpoint.url_path("poll") + "?mobile=nonsense&key=FB1&reply=A")

    page = admin_client.get(EVENTS, {"outcome__exact": "rejected"}).content.decode()

    assert CallbackEvent.objects.filter(outcome=Outcome.REJECTED).count() == 1
    assert "not a phone number" in page
    assert "poll response #" not in page


def test_callback_log_is_found_by_the_subscriber_mobile(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    request_vote(admin_client, endpoint, "3055550000")
    mine = PollResponse.objects.get(subscriber__mobile="+12125551212")

    page = admin_client.get(EVENTS, {"q": "(212) 555-1212"}).content.decode()

    assert f"pollresponse/{mine.pk}/change/" in page
    assert page.count('/change/">poll response #') == 1


def test_callback_log_is_read_only(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    event = CallbackEvent.objects.get()

    assert admin_client.get(EVENTS + "add/").status_code == 403
    page = admin_client.get(EVENTS + f"{event.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    assert "2125551212" in page  # the parameters as sent


def test_callback_log_queries_do_not_grow_with_page_size(admin_client, endpoint):
    for mobile in numbers(0, 2):
        request_vote(admin_client, endpoint, mobile)
        request_callback(admin_client, endpoint, "info", lead="HOURS", mobile=mobile, msg="hi")
    few, _ = queries(admin_client, EVENTS)
    for mobile in numbers(2, 30):
        request_vote(admin_client, endpoint, mobile)
        request_callback(admin_client, endpoint, "info", lead="HOURS", mobile=mobile, msg="hi")

    many, page = queries(admin_client, EVENTS)

    assert page.content.decode().count('/change/">') >= 60
    # + the choices of the campaign, carrier and country filters (the campaign filter reads
    # no campaign until one is asked for).
    assert (few, many) == (9 + ESTIMATE_QUERY, 9 + ESTIMATE_QUERY)


def test_admin_home_shows_callbacks_review_and_problems(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", key="NEWKEY")
    request_vote(admin_client, endpoint, "2125551213", key="NEWKEY")
    request_callback(admin_client, endpoint, "info", lead="HOURS", mobile="2125551212", msg="hi")
    admin_client.get(endpoint.url_path("poll") + "?mobile=nonsense&key=FB1&reply=A")
    old = CallbackEvent.objects.create(
        endpoint=endpoint, kind="form", method="GET", outcome=Outcome.PROCESSED
    )
    CallbackEvent.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(days=3))
    # Failed: one two days ago, one eight days ago (outside the week the card counts).
    for days in (2, 8):
        failed = CallbackEvent.objects.create(
            endpoint=endpoint, kind="poll", method="GET", outcome=Outcome.FAILED
        )
        at = timezone.now() - timedelta(days=days)
        CallbackEvent.objects.filter(pk=failed.pk).update(received_at=at)
    Campaign.objects.create(shortcode="1", keyword="DONE", name="Configured")

    page = admin_client.get("/admin/").content.decode()
    dashboard = page[page.index('id="dashboard"') :]

    # Two subscribers (the rejected callback made none), both new today.
    assert 'id="card-subscribers">2<' in dashboard
    assert 'id="card-new-today">2<' in dashboard and 'id="card-new-week">2<' in dashboard
    # Four callbacks in the last 24 hours; the one from three days ago is not among them.
    assert 'id="card-callbacks">4<' in dashboard
    assert 'id="card-active">2<' in dashboard  # NEWKEY and HOURS recorded something
    assert ">1 rejected<" in dashboard and ">1 failed<" in dashboard
    assert "?outcome__exact=failed" in dashboard
    assert "2 campaigns need review" in dashboard
    busiest = dashboard[dashboard.index('id="dashboard-busiest"') :]
    assert '84700 NEWKEY)</a></td>\n            <td class="num">2</td>' in busiest
    assert "Configured" not in dashboard


def test_the_dashboard_charts_new_subscribers_and_callbacks(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", key="NEWKEY")
    request_vote(admin_client, endpoint, "2125551213", key="NEWKEY")
    admin_client.get(endpoint.url_path("poll") + "?mobile=nonsense&key=FB1&reply=A")

    page = admin_client.get("/admin/")

    signups = json.loads(page.context["dashboard"]["signups_chart"])
    assert len(signups["labels"]) == 30
    assert signups["datasets"][0]["data"][-1] == 2 and sum(signups["datasets"][0]["data"]) == 2
    callbacks = json.loads(page.context["dashboard"]["callbacks_chart"])
    assert len(callbacks["labels"]) == 48
    per_outcome = {d["label"]: d["data"][-1] for d in callbacks["datasets"]}
    assert per_outcome == {"Processed": 2, "Rejected": 1, "Failed": 0, "Duplicate": 0}


def test_callback_urls_with_copy_buttons_only_for_who_may_change_endpoints(
    admin_client, client, endpoint, django_user_model
):
    page = admin_client.get("/admin/").content.decode()
    url = f"http://testserver{endpoint.url_path('poll')}"
    assert f'data-copy="{url}"' in page

    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_callbackevent"))
    client.force_login(viewer)
    page = client.get("/admin/").content.decode()
    assert 'id="card-callbacks"' in page
    assert endpoint.token not in page


def test_admin_home_queries_stay_few(admin_client, endpoint, django_assert_num_queries):
    for mobile in numbers(0, 20):
        request_vote(admin_client, endpoint, mobile, key=mobile[-4:])

    # Session, user, and one query per figure: none per campaign or per row.
    with django_assert_num_queries(15 + ESTIMATE_QUERY):
        admin_client.get("/admin/")


def test_an_event_whose_parameters_cannot_be_read_still_opens(admin_client, endpoint, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 5
    query = "&".join(f"f{i}=x" for i in range(10))
    event = CallbackEvent.objects.create(
        endpoint=endpoint,
        kind="form",
        method="GET",
        query_string=query,
        outcome=Outcome.REJECTED,
        reason="too many parameters",
    )
    page = admin_client.get(f"{EVENTS}{event.pk}/change/")
    assert page.status_code == 200
    assert "too many parameters" in page.content.decode()


def test_the_callback_log_filters_by_campaign_carrier_and_country(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", carrier="VZ")
    request_vote(admin_client, endpoint, "+442071838750", carrier="EE")
    request_callback(admin_client, endpoint, "info", lead="HOURS", mobile="2125551213", msg="hi")
    request_callback(admin_client, endpoint, "form", key="JOIN", mobile="2125551214", Zip="1")
    hours = Campaign.objects.get(keyword="HOURS")

    def listed(**params) -> set[str]:
        cl = admin_client.get(EVENTS, params).context["cl"]
        return {event.record.subscriber.mobile for event in cl.result_list}

    assert listed(campaign=hours.pk) == {"+12125551213"}
    assert listed(carrier="EE") == {"+442071838750"}
    # Each kind of callback is matched through its own kind of row.
    assert listed(country="US") == {"+12125551212", "+12125551213", "+12125551214"}
    assert listed(carrier="VZ") == {"+12125551212"}


def test_a_callbacks_page_names_it_in_the_pages_zone_and_date_format(
    admin_client, endpoint, settings
):
    settings.TIME_ZONE = "America/New_York"
    request_vote(admin_client, endpoint, "2125551212")
    event = CallbackEvent.objects.get()
    CallbackEvent.objects.filter(pk=event.pk).update(
        received_at=datetime(2026, 3, 1, 21, 5, tzinfo=UTC)
    )

    page = admin_client.get(f"{EVENTS}{event.pk}/change/").content.decode()

    assert "Poll processed, Mar 1, 2026 16:05" in page  # 21:05 UTC
    assert "2026-03-01" not in page
    assert "Times in America/New_York." in page


def test_the_busiest_campaigns_count_votes_on_their_local_day(admin_client, endpoint, settings):
    """Votes come from the poll counters: each on its day in the site's zone, as counted
    from the votes themselves."""
    settings.TIME_ZONE = "America/New_York"  # midnight there is 05:00 UTC
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    for n, hours in enumerate((-31, -24 - 7.5, -7, -6.9, 0)):  # around two local midnights
        at = now + timedelta(hours=hours)
        receive("poll", at=at, mobile=f"212555{1000 + n}", shortcode="84700", key="FB1", reply="A")
    first = timezone.localdate(now) - timedelta(days=3)

    counted = campaign_activity(first)

    votes = PollResponse.objects.all()
    by_day = {}
    for vote in votes:
        day = timezone.localdate(vote.received_at)
        by_day[day] = by_day.get(day, 0) + 1
    assert dict(counted[votes[0].campaign_id]) == by_day
    assert len(by_day) >= 2
