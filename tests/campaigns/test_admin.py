import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.urls import reverse
from unfold.admin import checkbox

from campaigns.admin import CampaignOfKindFilter
from campaigns.models import Campaign, FormSubmission, InfoRequest, Kind, PollChoice, PollResponse
from tests.helpers import ESTIMATE_QUERY, numbers, queries, request_callback, request_vote

CAMPAIGNS = "/admin/campaigns/campaign/"
VOTES = "/admin/campaigns/pollresponse/"


def inline_data(choices: list[tuple[str, str, int]]) -> dict:
    data = {
        "choices-TOTAL_FORMS": str(len(choices)),
        "choices-INITIAL_FORMS": "0",
        "choices-MIN_NUM_FORMS": "0",
        "choices-MAX_NUM_FORMS": "1000",
    }
    for i, (reply, label, order) in enumerate(choices):
        data |= {
            f"choices-{i}-reply": reply,
            f"choices-{i}-label": label,
            f"choices-{i}-order": order,
        }
    return data


def test_it_creates_a_poll_with_its_choices(admin_client, db):
    response = admin_client.post(
        CAMPAIGNS + "add/",
        {
            "name": "Best city",
            "shortcode": "84700",
            "keyword": " FB1 ",
            "kind": Kind.POLL,
            "reply_text": "",
            **inline_data([("A", "Tampa", 1), ("B", "Miami", 2)]),
        },
    )

    assert response.status_code == 302
    campaign = Campaign.objects.get()
    assert (campaign.keyword, campaign.kind, campaign.needs_review) == ("FB1", "poll", False)
    assert list(campaign.choices.values_list("reply", "label", "order")) == [
        ("A", "Tampa", 1),
        ("B", "Miami", 2),
    ]


def test_reply_text_box_carries_the_live_counter(admin_client, db):
    page = admin_client.get(CAMPAIGNS + "add/").content.decode()

    assert "data-sms-counter" in page
    assert "campaigns/reply_counter.js" in page


def test_campaigns_from_unknown_keywords_come_first_and_can_be_marked_reviewed(
    admin_client, endpoint
):
    Campaign.objects.create(shortcode="84700", keyword="AAA", kind=Kind.FORM, name="Configured")
    request_vote(admin_client, endpoint, "2125551212", key="ZZZ")
    unknown = Campaign.objects.get(keyword="ZZZ")

    page = admin_client.get(CAMPAIGNS).content.decode()
    assert page.index("ZZZ") < page.index("Configured")
    needed = admin_client.get(CAMPAIGNS, {"review": "needed"}).content.decode()
    assert "ZZZ" in needed and "Configured" not in needed

    admin_client.post(CAMPAIGNS, {"action": "mark_reviewed", "_selected_action": [unknown.pk]})

    unknown.refresh_from_db()
    assert unknown.needs_review is False


def test_the_campaign_list_shows_activity_and_why_a_campaign_needs_review(admin_client, endpoint):
    Campaign.objects.create(shortcode="84700", keyword="QUIET", kind=Kind.POLL, name="Quiet")
    request_vote(admin_client, endpoint, "2125551212", reply="A")
    request_vote(admin_client, endpoint, "2125551212", reply="B")
    request_vote(admin_client, endpoint, "2125551213", reply="A")
    request_callback(admin_client, endpoint, "info", lead="HOURS", mobile="2125551212", msg="hi")

    response = admin_client.get(CAMPAIGNS)

    rows = {c.keyword: c for c in response.context["cl"].result_list}
    assert (rows["FB1"].responses, rows["FB1"].subscribers) == (3, 2)
    assert (rows["HOURS"].responses, rows["HOURS"].subscribers) == (1, 1)
    assert (rows["QUIET"].responses, rows["QUIET"].last_activity_at) == (0, None)
    assert rows["FB1"].last_activity_at == PollResponse.objects.latest().received_at
    page = response.content.decode()
    assert page.count("Needs review") >= 2
    assert "Made from a callback: nobody had set up this keyword. Since" in page
    assert "Set up" in page  # Quiet was set up by hand


def test_poll_campaign_links_to_its_results(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa")
    request_vote(admin_client, endpoint, "2125551213", reply="A", label="Tampa")
    request_vote(admin_client, endpoint, "2125551214", reply="B", label="Miami")
    campaign = Campaign.objects.get()
    results = reverse("admin:campaigns_campaign_results", args=[campaign.pk])

    assert results in admin_client.get(CAMPAIGNS).content.decode()
    assert results in admin_client.get(CAMPAIGNS + f"{campaign.pk}/change/").content.decode()
    page = admin_client.get(results).content.decode()
    assert "Tampa" in page and "Miami" in page
    assert '<td class="num votes">2</td>' in page and '<td class="num votes">1</td>' in page


def test_info_campaign_has_no_results_link(admin_client, db):
    campaign = Campaign.objects.create(keyword="HOURS", kind=Kind.INFO, reply_text="9-5")

    page = admin_client.get(CAMPAIGNS + f"{campaign.pk}/change/").content.decode()

    assert "/results/" not in page


def test_votes_are_found_by_mobile_typed_any_way_and_by_text(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa")
    request_vote(admin_client, endpoint, "3055550000", reply="B", label="Miami")

    by_number = admin_client.get(VOTES, {"q": "(212) 555-1212"}).content.decode()
    assert "+12125551212" in by_number and "+13055550000" not in by_number
    by_label = admin_client.get(VOTES, {"q": "miami"}).content.decode()
    assert "+13055550000" in by_label and "+12125551212" not in by_label


def test_info_requests_are_found_by_message_text(admin_client, endpoint):
    request_callback(
        admin_client, endpoint, "info", lead="HOURS", mobile="2125551212", msg="When open?"
    )
    request_callback(
        admin_client, endpoint, "info", lead="HOURS", mobile="3055550000", msg="Parking?"
    )

    page = admin_client.get("/admin/campaigns/inforequest/", {"q": "parking"}).content.decode()

    assert "+13055550000" in page and "+12125551212" not in page


def test_votes_filter_by_carrier_and_subscriber(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", carrier="VERIZONUS")
    request_vote(admin_client, endpoint, "3055550000", carrier="TMOBILE")
    tmobile = PollResponse.objects.get(subscriber__carrier="TMOBILE").subscriber

    by_carrier = admin_client.get(VOTES, {"subscriber__carrier": "TMOBILE"}).content.decode()
    by_subscriber = admin_client.get(VOTES, {"subscriber__id__exact": tmobile.pk}).content.decode()

    for page in (by_carrier, by_subscriber):
        assert "+13055550000" in page and "+12125551212" not in page


def test_response_lists_queries_do_not_grow_with_page_size(admin_client, endpoint):
    for n, mobile in enumerate(numbers(0, 2)):
        request_vote(admin_client, endpoint, mobile, reply="AB"[n % 2])
        request_callback(admin_client, endpoint, "info", lead="HOURS", mobile=mobile, msg="hi")
        request_callback(
            admin_client, endpoint, "form", shortcode="1", key="J", mobile=mobile, Name="X"
        )
    urls = [VOTES, "/admin/campaigns/inforequest/", "/admin/campaigns/formsubmission/"]
    few = [queries(admin_client, url)[0] for url in urls]
    for n, mobile in enumerate(numbers(2, 25)):
        request_vote(admin_client, endpoint, mobile, reply="ABC"[n % 3])
        request_callback(admin_client, endpoint, "info", lead="HOURS", mobile=mobile, msg="hi")
        request_callback(
            admin_client, endpoint, "form", shortcode="1", key="J", mobile=mobile, Name="X"
        )

    many = [queries(admin_client, url)[0] for url in urls]

    assert PollResponse.objects.count() == InfoRequest.objects.count() == 27
    assert FormSubmission.objects.count() == 27
    # Each: + the segments the segment filter offers. Form submissions: + the sample that
    # picks the custom-field columns.
    assert few == many == [9 + ESTIMATE_QUERY, 9 + ESTIMATE_QUERY, 10 + ESTIMATE_QUERY]


def test_responses_are_read_only_records(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    row = PollResponse.objects.get()

    assert admin_client.get(VOTES + "add/").status_code == 403
    page = admin_client.get(VOTES + f"{row.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    admin_client.post(VOTES + f"{row.pk}/change/", {"reply": "Z"})
    row.refresh_from_db()
    assert row.reply == "A"


def test_only_superusers_delete_responses(client, admin_client, endpoint, django_user_model):
    request_vote(admin_client, endpoint, "2125551212")
    row = PollResponse.objects.get()
    staff = django_user_model.objects.create_user("marketer", password="x", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="campaigns"))
    client.force_login(staff)

    assert client.post(VOTES + f"{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert PollResponse.objects.exists()
    admin_client.post(VOTES + f"{row.pk}/delete/", {"post": "yes"})
    assert not PollResponse.objects.exists()


def test_votes_export_follows_the_filters(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa", carrier="VZ")
    request_vote(admin_client, endpoint, "3055550000", reply="B", label="Miami", carrier="TM")

    response = admin_client.get(VOTES + "export.csv", {"reply": "B"})

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].split(",") == [
        "Received at (UTC)",
        "Mobile",
        "Country",
        "Carrier",
        "Short code",
        "Keyword",
        "Campaign",
        "Reply",
        "Label sent",
        "Choice",
    ]
    assert len(lines) == 2
    assert ",+13055550000,US,TM,84700,FB1,FB1,B,Miami,Miami" in lines[1]


def test_form_submissions_export_expands_custom_fields(admin_client, endpoint):
    request_callback(
        admin_client, endpoint, "form", shortcode="1", key="J", mobile="2125551212", Name="Bill"
    )
    request_callback(
        admin_client, endpoint, "form", shortcode="1", key="J", mobile="3055550000", Zip="33101"
    )

    response = admin_client.get("/admin/campaigns/formsubmission/export.csv")

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].endswith(",Campaign,Name,Zip")
    assert any("+12125551212" in line and line.endswith(",Bill,") for line in lines)
    assert any("+13055550000" in line and line.endswith(",,33101") for line in lines)


def test_choice_created_from_a_callback_is_flagged(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="Q", label="Quincy")

    request_vote(admin_client, endpoint, "3055550000", reply="A", label="Tampa")
    PollChoice.objects.filter(reply="A").update(from_callback=False)

    unmatched = admin_client.get(VOTES, {"matched": "no"}).content.decode()
    matched = admin_client.get(VOTES, {"matched": "yes"}).content.decode()

    assert PollChoice.objects.get(reply="Q").from_callback
    assert "+12125551212" in unmatched and "+13055550000" not in unmatched
    assert "+13055550000" in matched and "+12125551212" not in matched


def test_votes_filter_by_the_chosen_campaign_choices(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa")
    request_vote(admin_client, endpoint, "3055550000", reply="B", label="Miami")
    request_vote(admin_client, endpoint, "4155550100", key="OTHER", reply="C", label="Boston")
    fb1 = Campaign.objects.get(keyword="FB1")
    miami = PollChoice.objects.get(label="Miami")

    unfiltered = admin_client.get(VOTES).content.decode()
    page = admin_client.get(VOTES, {"campaign__id__exact": fb1.pk}).content.decode()
    chosen = admin_client.get(
        VOTES, {"campaign__id__exact": fb1.pk, "choice": miami.pk}
    ).content.decode()

    assert "By choice" not in unfiltered
    assert "A: Tampa" in page and "B: Miami" in page and "C: Boston" not in page
    assert "+13055550000" in chosen and "+12125551212" not in chosen


def test_campaign_list_queries_do_not_grow_with_page_size(admin_client, db):
    Campaign.objects.bulk_create(Campaign(keyword=f"K{n}", kind=Kind.POLL) for n in range(3))
    few, _ = queries(admin_client, CAMPAIGNS)
    Campaign.objects.bulk_create(Campaign(keyword=f"K{n}", kind=Kind.INFO) for n in range(3, 60))

    many, page = queries(admin_client, CAMPAIGNS)

    assert "K59" in page.content.decode()
    assert (few, many) == (6, 6)


def test_export_needs_view_permission(client, django_user_model, endpoint):
    request_vote(client, endpoint, "2125551212")
    staff = django_user_model.objects.create_user("nobody", password="x", is_staff=True)
    client.force_login(staff)

    assert client.get(VOTES + "export.csv").status_code == 403
    assert client.get(VOTES + "export.xlsx").status_code == 403


def test_export_rejects_filters_the_list_does_not_have(admin_client, db):
    response = admin_client.get(VOTES + "export.csv", {"subscriber__fields__x": "1"})

    assert response.status_code == 400


@pytest.mark.parametrize("value", ["²", "99999999999999999999999", "-1", "x"])
def test_votes_list_ignores_ids_that_cannot_be_ids(admin_client, endpoint, value):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa")
    for url in (VOTES, VOTES + "export.csv"):
        response = admin_client.get(url, {"campaign__id__exact": value, "choice": value})
        assert response.status_code == 200, url


def test_subscribers_can_be_filtered_by_the_campaign_they_took_part_in(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    request_callback(admin_client, endpoint, "info", lead="HOURS", mobile="2125551213", msg="hi")
    hours = Campaign.objects.get(keyword="HOURS")

    page = admin_client.get("/admin/crm/subscriber/", {"took_part_in": hours.pk}).content.decode()

    assert "+12125551213" in page and "+12125551212" not in page
    assert "took part in" in page


def test_each_list_offers_only_campaigns_of_its_kind(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    request_callback(admin_client, endpoint, "info", lead="HOURS", mobile="2125551213", msg="hi")
    poll, info = Campaign.objects.get(keyword="FB1"), Campaign.objects.get(keyword="HOURS")
    # A filter with a single choice is not shown: a second campaign of each kind.
    poll2 = Campaign.objects.create(shortcode="84700", keyword="FB2", kind=Kind.POLL)
    info2 = Campaign.objects.create(keyword="MENU", kind=Kind.INFO)

    def offered(url) -> set:
        specs = admin_client.get(url).context["cl"].filter_specs
        campaign = next(spec for spec in specs if isinstance(spec, CampaignOfKindFilter))
        return {pk for pk, _ in campaign.lookup_choices}

    assert offered(VOTES) == {poll.pk, poll2.pk}
    assert offered("/admin/campaigns/inforequest/") == {info.pk, info2.pk}


def test_a_marketer_sets_a_campaigns_own_duplicate_window(admin_client, db):
    fields = {"name": "Hours", "keyword": "HOURS", "kind": Kind.INFO, **inline_data([])}
    admin_client.post(CAMPAIGNS + "add/", {**fields, "duplicate_window": "30"})
    admin_client.post(CAMPAIGNS + "add/", {**fields, "keyword": "MENU", "duplicate_window": ""})

    windows = dict(Campaign.objects.values_list("keyword", "duplicate_window"))
    assert windows == {"HOURS": 30, "MENU": None}
    assert Campaign.objects.get(keyword="MENU").effective_duplicate_window() == 600


def test_a_big_list_selects_each_row_with_unfolds_own_checkbox(admin_client, endpoint):
    # The row checkbox is rendered once and filled with each pk (its template was a third of
    # a 100-row page); the markup stays Unfold's.
    request_vote(admin_client, endpoint, "2125551212")
    request_vote(admin_client, endpoint, "2125551213", reply="B")
    page = admin_client.get(reverse("admin:campaigns_pollresponse_changelist")).content.decode()
    for vote in PollResponse.objects.all():
        assert checkbox.render(helpers.ACTION_CHECKBOX_NAME, str(vote.pk)) in page
