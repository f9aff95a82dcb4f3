from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Kind, PollChoice
from tests.helpers import client_for, integration_user, receive, vote

pytestmark = pytest.mark.django_db

LISTS = {
    "/api/v1/campaigns/": "campaigns.view_campaign",
    "/api/v1/poll-choices/": "campaigns.view_pollchoice",
    "/api/v1/poll-responses/": "campaigns.view_pollresponse",
    "/api/v1/info-requests/": "campaigns.view_inforequest",
    "/api/v1/form-submissions/": "campaigns.view_formsubmission",
}


def reader(*perms, name="warehouse"):
    return client_for(integration_user(*perms, name=name))


def results(response) -> list[dict]:
    assert response.status_code == 200, response.content
    return response.json()["results"]


def csv_lines(response) -> list[str]:
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return b"".join(response.streaming_content).decode().splitlines()


def some_of_everything():
    vote("2125551212", "A", carrier="Verizon")
    receive("info", lead="HOURS", mobile="2125551212", msg="hours?")
    receive("form", key="JOIN", shortcode="12345", mobile="2125551212", Name="Ann")


# Who may call what


@pytest.mark.parametrize("url", [*LISTS, "/api/v1/campaigns/1/results/"])
def test_every_endpoint_answers_401_to_anonymous_callers(url):
    some_of_everything()
    response = client_for(None).get(url)
    assert response.status_code == 401
    assert "credentials were not provided" in response.json()["detail"]


@pytest.mark.parametrize("url", LISTS)
def test_every_endpoint_answers_403_without_its_view_permission(url):
    some_of_everything()
    others = [perm for perm in LISTS.values() if perm != LISTS[url]]
    response = reader(*others).get(url)
    assert response.status_code == 403


@pytest.mark.parametrize("url", LISTS)
def test_every_list_answers_with_its_view_permission(url):
    some_of_everything()
    rows = results(reader(LISTS[url]).get(url))
    # Three campaigns (PIZZA, HOURS, JOIN), one choice, one row of each kind.
    assert len(rows) == (3 if url == "/api/v1/campaigns/" else 1)


def test_results_need_view_permission_on_poll_responses_too():
    campaign = vote("2125551212", "A").campaign
    url = f"/api/v1/campaigns/{campaign.id}/results/"
    assert reader("campaigns.view_campaign").get(url).status_code == 403
    both = reader("campaigns.view_campaign", "campaigns.view_pollresponse", name="bi")
    assert both.get(url).json()["votes"] == 1


def test_responses_are_read_only_even_with_every_permission():
    response = vote("2125551212", "A")
    perms = [f"campaigns.{p}_pollresponse" for p in ("view", "add", "change", "delete")]
    client = reader(*perms)
    url = f"/api/v1/poll-responses/{response.id}/"
    assert client.delete(url).status_code == 405
    assert client.patch(url, {"reply": "B"}, format="json").status_code == 405
    assert client.post("/api/v1/poll-responses/", {}, format="json").status_code == 405
    response.refresh_from_db()
    assert response.reply == "A"


# Campaigns and choices: validated as the admin validates them

MARKETER = (
    "campaigns.view_campaign",
    "campaigns.add_campaign",
    "campaigns.change_campaign",
    "campaigns.add_pollchoice",
    "campaigns.change_pollchoice",
    "campaigns.view_pollchoice",
)


def test_a_marketer_creates_a_poll_with_its_choices():
    response = reader(*MARKETER).post(
        "/api/v1/campaigns/",
        {
            "shortcode": "12345",
            "keyword": "  Best   Pizza ",
            "kind": "poll",
            "name": "Best pizza in town",
            "choices": [{"reply": "A", "label": "Tampa"}, {"reply": "B", "label": "Miami"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get()
    assert (campaign.keyword, campaign.kind, campaign.needs_review) == ("Best Pizza", "poll", False)
    assert [(c.reply, c.label) for c in campaign.choices.all()] == [("A", "Tampa"), ("B", "Miami")]
    assert [c["label"] for c in response.json()["choices"]] == ["Tampa", "Miami"]


def test_it_refuses_a_keyword_that_exists_on_the_short_code_in_another_case():
    Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind=Kind.POLL)
    response = reader(*MARKETER).post(
        "/api/v1/campaigns/", {"shortcode": "12345", "keyword": "pizza", "kind": "poll"}
    )
    assert response.status_code == 409
    assert "already has a campaign of this kind with this keyword" in str(
        response.json()["errors"]["non_field_errors"]
    )
    assert Campaign.objects.count() == 1


def test_the_same_keyword_on_another_short_code_is_fine():
    Campaign.objects.create(shortcode="12345", keyword="PIZZA", kind=Kind.POLL)
    client = reader(*MARKETER)
    response = client.post("/api/v1/campaigns/", {"shortcode": "555", "keyword": "pizza"})
    assert response.status_code == 201
    assert Campaign.objects.count() == 2


def test_it_refuses_two_choices_with_one_reply_in_different_cases():
    response = reader(*MARKETER).post(
        "/api/v1/campaigns/",
        {
            "keyword": "PIZZA",
            "choices": [{"reply": "a", "label": "x"}, {"reply": "A", "label": "y"}],
        },
        format="json",
    )
    # A clash, as with a reply the campaign has already: 409.
    assert response.status_code == 409
    assert response.json()["errors"] == {"choices": ["Reply 'A' is given twice."]}
    assert not Campaign.objects.exists()


def test_it_refuses_a_new_choice_whose_reply_exists_in_another_case():
    campaign = vote("2125551212", "A").campaign
    response = reader(*MARKETER).post(
        "/api/v1/poll-choices/", {"campaign": campaign.id, "reply": " a ", "label": "Tampa"}
    )
    assert response.status_code == 409
    assert "already has a choice with this reply" in str(
        response.json()["errors"]["non_field_errors"]
    )
    assert campaign.choices.count() == 1


def test_a_marketer_relabels_a_choice_made_from_a_callback():
    choice = vote("2125551212", "A").choice
    response = reader(*MARKETER).patch(
        f"/api/v1/poll-choices/{choice.id}/", {"label": "Tampa", "from_callback": False}
    )
    assert response.status_code == 200, response.content
    choice.refresh_from_db()
    assert (choice.label, choice.from_callback) == ("Tampa", False)


def test_a_choice_cannot_move_to_another_campaign():
    choice = vote("2125551212", "A").choice
    other = Campaign.objects.create(keyword="OTHER")
    # Read-only once the choice exists: ignored, as GET's other read-only fields are by PUT.
    response = reader(*MARKETER).patch(
        f"/api/v1/poll-choices/{choice.id}/", {"campaign": other.id, "label": "Tampa Bay"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["campaign"] == choice.campaign_id
    choice.refresh_from_db()
    assert (choice.campaign_id, choice.label) == (choice.campaign.id, "Tampa Bay")
    assert choice.campaign_id != other.id


def test_a_choice_for_a_campaign_that_does_not_exist_is_a_404_naming_the_field():
    response = reader(*MARKETER).post(
        "/api/v1/poll-choices/", {"campaign": 999999, "reply": "A", "label": "Tampa"}
    )
    assert response.status_code == 404
    assert list(response.json()["errors"]) == ["campaign"]
    assert not PollChoice.objects.exists()


def test_a_marketer_reviews_an_automatic_campaign():
    campaign = vote("2125551212", "A").campaign
    assert campaign.needs_review
    response = reader(*MARKETER).patch(
        f"/api/v1/campaigns/{campaign.id}/", {"needs_review": False, "name": "Pizza poll"}
    )
    assert response.status_code == 200, response.content
    campaign.refresh_from_db()
    assert (campaign.needs_review, campaign.name) == (False, "Pizza poll")


def test_creating_needs_the_add_permission():
    response = reader("campaigns.view_campaign").post("/api/v1/campaigns/", {"keyword": "X"})
    assert response.status_code == 403
    assert not Campaign.objects.exists()


def test_creating_choices_with_a_campaign_needs_the_choice_permission():
    client = reader("campaigns.view_campaign", "campaigns.add_campaign")
    response = client.post(
        "/api/v1/campaigns/",
        {"keyword": "X", "choices": [{"reply": "A", "label": "a"}]},
        format="json",
    )
    assert response.status_code == 403
    assert not PollChoice.objects.exists()


def test_campaign_filters():
    vote("2125551212", "A", key="PIZZA")
    receive("info", lead="HOURS", mobile="2125551212")
    Campaign.objects.filter(keyword="HOURS").update(needs_review=False)
    client = reader("campaigns.view_campaign")

    def keywords(**query):
        return [c["keyword"] for c in results(client.get("/api/v1/campaigns/", query))]

    assert keywords(kind="poll") == ["PIZZA"]
    assert keywords(kind="form") == []
    assert keywords(keyword="pizza") == ["PIZZA"]
    assert keywords(keyword="tacos") == []
    assert keywords(shortcode="12345") == ["PIZZA"]
    assert keywords(shortcode="999") == []
    assert keywords(needs_review="false") == ["HOURS"]
    assert keywords(needs_review="true") == ["PIZZA"]


def test_poll_choices_filter_by_campaign():
    pizza = vote("2125551212", "A", key="PIZZA").campaign
    vote("2125551212", "B", key="TACOS")
    empty = Campaign.objects.create(keyword="EMPTY")
    client = reader("campaigns.view_pollchoice")
    found = results(client.get("/api/v1/poll-choices/", {"campaign": pizza.id}))
    assert [(c["campaign"], c["reply"]) for c in found] == [(pizza.id, "A")]
    assert results(client.get("/api/v1/poll-choices/", {"campaign": empty.id})) == []


# Responses: filters


def test_poll_response_filters_each_match_and_miss():
    now = timezone.now()
    hit = vote("2125551212", "A", carrier="Verizon", country="US", at=now - timedelta(minutes=30))
    vote(
        "+447911123456", "B", key="TACOS", shortcode="999", carrier="O2", at=now - timedelta(days=2)
    )
    client = reader("campaigns.view_pollresponse")

    def ids(**query):
        return [r["id"] for r in results(client.get("/api/v1/poll-responses/", query))]

    an_hour_ago = (now - timedelta(hours=1)).isoformat()
    cases = [
        ({"campaign": hit.campaign_id}, {"campaign": 999999}),
        ({"keyword": "pizza"}, {"keyword": "burgers"}),
        ({"shortcode": "12345"}, {"shortcode": "11111"}),
        ({"reply": "a"}, {"reply": "C"}),
        ({"carrier": "VERIZON"}, {"carrier": "Sprint"}),
        ({"country": "USA"}, {"country": "FR"}),
        ({"mobile": "(212) 555-1212"}, {"mobile": "305 555 0123"}),
        ({"received_after": an_hour_ago}, {"received_after": now.isoformat()}),
        (
            {"received_before": now.isoformat(), "received_after": an_hour_ago},
            {"received_before": an_hour_ago, "country": "US"},
        ),
    ]
    for matching, missing in cases:
        assert ids(**matching) == [hit.id], matching
        assert ids(**missing) == [], missing


def test_info_request_and_form_submission_filters():
    receive("info", lead="HOURS", mobile="2125551212", msg="open?")
    receive("form", key="JOIN", shortcode="12345", mobile="3055550123", Name="Bo")
    client = reader("campaigns.view_inforequest", "campaigns.view_formsubmission")
    assert [
        r["message"] for r in results(client.get("/api/v1/info-requests/", {"keyword": "hours"}))
    ] == ["open?"]
    assert results(client.get("/api/v1/info-requests/", {"mobile": "3055550123"})) == []
    forms = results(client.get("/api/v1/form-submissions/", {"mobile": "305-555-0123"}))
    assert [f["fields"] for f in forms] == [{"Name": "Bo"}]
    assert results(client.get("/api/v1/form-submissions/", {"keyword": "hours"})) == []


# Results


def test_results_count_as_the_results_page_does():
    now = timezone.now()
    vote("2125551212", "A", at=now - timedelta(hours=3))
    vote("2125551212", "B", at=now - timedelta(hours=2))
    last = vote("3055550123", "B", at=now - timedelta(hours=1))
    PollChoice.objects.filter(reply="A").update(label="Tampa", from_callback=False)
    PollChoice.objects.filter(reply="B").update(label="Miami", from_callback=False)
    client = reader("campaigns.view_campaign", "campaigns.view_pollresponse")
    url = f"/api/v1/campaigns/{last.campaign_id}/results/"

    every = client.get(url).json()
    assert (every["votes"], every["voters"]) == (3, 2)
    assert {c["label"]: (c["votes"], c["voters"]) for c in every["choices"]} == {
        "Tampa": (1, 1),
        "Miami": (2, 2),
    }
    latest = client.get(url, {"counting": "latest"}).json()
    assert {c["label"]: c["votes"] for c in latest["choices"]} == {"Tampa": 0, "Miami": 2}
    assert [c["share"] for c in latest["choices"]] == [0.0, 1.0]
    window = client.get(
        url,
        {
            "since": (now - timedelta(hours=2, minutes=30)).isoformat(),
            "until": (now - timedelta(hours=1)).isoformat(),
        },
    ).json()
    assert {c["label"]: c["votes"] for c in window["choices"]} == {"Tampa": 0, "Miami": 1}


def test_results_reject_a_bad_counting():
    campaign = vote("2125551212", "A").campaign
    client = reader("campaigns.view_campaign", "campaigns.view_pollresponse")
    url = f"/api/v1/campaigns/{campaign.id}/results/"
    assert "counting" in client.get(url, {"counting": "most"}).json()["errors"]


def test_results_of_an_empty_range_count_no_vote():
    campaign = vote("2125551212", "A").campaign
    client = reader("campaigns.view_campaign", "campaigns.view_pollresponse")
    url = f"/api/v1/campaigns/{campaign.id}/results/"
    now = timezone.now().isoformat()
    empty = client.get(url, {"since": now, "until": now})
    assert empty.status_code == 200
    assert (empty.json()["votes"], empty.json()["voters"]) == (0, 0)


def test_results_reject_a_time_that_cannot_be_utc():
    campaign = vote("2125551212", "A").campaign
    client = reader("campaigns.view_campaign", "campaigns.view_pollresponse")
    response = client.get(
        f"/api/v1/campaigns/{campaign.id}/results/", {"since": "0001-01-01T00:00:00+01:00"}
    )
    assert response.status_code == 400
    assert "since" in response.json()["errors"]


# CSV


def test_poll_responses_csv_is_the_filtered_set_escaped_for_spreadsheets():
    response = vote("2125551212", "=SUM(A1)", label="@risk", carrier="Verizon")
    vote("3055550123", "B", key="TACOS")
    client = reader("campaigns.view_pollresponse")
    lines = csv_lines(client.get("/api/v1/poll-responses/", {"format": "csv", "keyword": "PIZZA"}))
    assert lines[0] == (
        "id,received_at,campaign,shortcode,keyword,subscriber,mobile,carrier,country,callback,"
        "choice,choice_label,reply,label"
    )
    assert len(lines) == 2
    assert lines[1].endswith(
        f",PIZZA,{response.subscriber_id},+12125551212,Verizon,US,{response.callback_id},"
        f"{response.choice_id},'@risk,'=SUM(A1),'@risk"
    )


def test_csv_and_json_name_the_same_things_the_same_way():
    some_of_everything()
    client = reader(
        "campaigns.view_pollresponse", "campaigns.view_inforequest", "campaigns.view_campaign"
    )
    for resource in ("poll-responses", "info-requests", "campaigns"):
        row = client.get(f"/api/v1/{resource}/").json()["results"][0]
        header = csv_lines(client.get(f"/api/v1/{resource}/csv/"))[0].split(",")
        # Objects (extras, custom fields) are columns of their own in CSV.
        scalars = [name for name, value in row.items() if not isinstance(value, dict)]
        assert header == scalars, resource


def test_form_submissions_csv_has_a_column_per_custom_field():
    ann = receive("form", key="JOIN", mobile="2125551212", Name="Ann", DOB="1990-01-01")
    tampa = receive("form", key="JOIN", mobile="3055550123", City="-Tampa")
    lines = csv_lines(
        reader("campaigns.view_formsubmission").get("/api/v1/form-submissions/?format=csv")
    )
    assert lines[0].endswith(",country,callback,City,DOB,Name")
    assert lines[1].endswith(f",+13055550123,,US,{tampa.callback_id},'-Tampa,,")
    assert lines[2].endswith(f",+12125551212,,US,{ann.callback_id},,1990-01-01,Ann")


def test_csv_streams_every_row_not_one_page():
    for n in range(60):
        receive("info", lead="HOURS", mobile=f"21255501{n:02d}")
    lines = csv_lines(
        reader("campaigns.view_inforequest").get("/api/v1/info-requests/?format=csv&page_size=5")
    )
    assert len(lines) == 61


def test_csv_of_campaigns_lists_their_choices():
    vote("2125551212", "A", label="Tampa")
    vote("2125551212", "B", label="Miami")
    lines = csv_lines(reader("campaigns.view_campaign").get("/api/v1/campaigns/?format=csv"))
    assert lines[1].endswith(",A: Tampa; B: Miami")


# Query counts


# Queries for a page of JSON and for the whole CSV: token, user, permissions, then the
# rows with their joins; campaigns add their choices, form submissions' CSV first reads which
# custom fields exist.
QUERIES = {
    "/api/v1/campaigns/": (5, 5),
    "/api/v1/poll-choices/": (4, 4),
    "/api/v1/poll-responses/": (4, 4),
    "/api/v1/info-requests/": (4, 4),
    "/api/v1/form-submissions/": (4, 5),
}


@pytest.mark.parametrize(("url", "expected"), QUERIES.items())
def test_queries_per_page_do_not_grow_with_the_page(url, expected, django_assert_num_queries):
    page_queries, csv_queries = expected
    for n in range(50):
        mobile = f"21255501{n:02d}"
        vote(mobile, "AB"[n % 2], key=f"K{n}")
        receive("info", lead="HOURS", mobile=mobile)
        receive("form", key="JOIN", shortcode="12345", mobile=mobile, Name=str(n))
    client = reader(LISTS[url])
    for size in (5, 50):
        with django_assert_num_queries(page_queries):
            assert len(results(client.get(url, {"page_size": size}))) == size
    with django_assert_num_queries(csv_queries):
        assert len(csv_lines(client.get(url, {"format": "csv"}))) > 50
