import io
from datetime import UTC, date, datetime

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from campaigns.models import PollResponse
from lib.admin_lists import BigTableMixin, distinct_values, estimated_rows, periods
from subscribers.models import Subscriber
from tests.helpers import ESTIMATE_QUERY, numbers, queries, request_callback, request_vote

CHANGELIST = "/admin/crm/subscriber/"


def test_it_finds_a_subscriber_by_mobile_typed_any_way(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212")
    Subscriber.objects.create(mobile="+13055550000")

    for typed in ("(212) 555-1212", "212.555.1212", "+1 212 555 1212", "12125551212"):
        page = admin_client.get(CHANGELIST, {"q": typed}).content.decode()
        assert "+12125551212" in page, typed
        assert "+13055550000" not in page, typed


def test_it_still_finds_partial_numbers(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212")
    Subscriber.objects.create(mobile="+13055550000")

    page = admin_client.get(CHANGELIST, {"q": "5551212"}).content.decode()

    assert "+12125551212" in page
    assert "+13055550000" not in page


def test_subscriber_list_queries_do_not_grow_with_page_size(admin_client, db):
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="VZ") for m in numbers(0, 3))
    few, _ = queries(admin_client, CHANGELIST)
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="VZ") for m in numbers(3, 60))
    many, page = queries(admin_client, CHANGELIST)

    assert "+12125550062" in page.content.decode()
    # + the "took part in" filter's campaigns, the segments offered and the sample that picks
    # the custom-field columns.
    assert (few, many) == (10 + ESTIMATE_QUERY, 10 + ESTIMATE_QUERY)


def test_subscriber_page_shows_profile_and_timeline_newest_first(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212", reply="A", label="Tampa")
    request_callback(
        admin_client, endpoint, "info", lead="HOURS", mobile="2125551212", msg="When open?"
    )
    request_callback(
        admin_client,
        endpoint,
        "form",
        shortcode="84700",
        key="JOIN",
        mobile="2125551212",
        carrierId="VERIZONUS",
        Name="Bill",
    )
    subscriber = Subscriber.objects.get()

    page = admin_client.get(reverse("admin:crm_subscriber_change", args=[subscriber.pk]))

    html = page.content.decode()
    assert "+12125551212" in html and "VERIZONUS" in html and "Bill" in html
    form, info, poll = html.index("Name=Bill"), html.index("When open?"), html.index("A: Tampa")
    assert form < info < poll
    assert f"?subscriber__id__exact={subscriber.pk}" in html


def test_subscriber_timeline_is_bounded_and_its_queries_do_not_grow(admin_client, endpoint):
    request_vote(admin_client, endpoint, "2125551212")
    subscriber = Subscriber.objects.get()
    url = reverse("admin:crm_subscriber_change", args=[subscriber.pk])
    few, _ = queries(admin_client, url)
    first = PollResponse.objects.get()
    PollResponse.objects.bulk_create(
        PollResponse(
            campaign=first.campaign,
            subscriber=subscriber,
            callback=_event(first.callback),
            choice=first.choice,
            reply="A",
        )
        for _ in range(80)
    )

    many, page = queries(admin_client, url)

    assert page.content.decode().count("A: Tampa") == 50
    assert (few, many) == (7, 7)


def _event(template):
    template.pk = None
    template.save()
    return template


def test_subscriber_export_expands_custom_fields_and_follows_the_filters(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", country="US", fields={"Name": "Bill"})
    Subscriber.objects.create(mobile="+12125551213", country="US", fields={"Zip": "10024"})
    Subscriber.objects.create(mobile="+447911123456", country="GB", fields={"Name": "Ann"})

    response = admin_client.get(CHANGELIST + "export.csv", {"country": "US"})

    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == (  # custom fields sorted, after the columns
        "Mobile,Country,Carrier,First seen at (UTC),Last seen at (UTC),Name,Zip"
    )
    assert len(lines) == 3
    assert any(line.startswith("+12125551212,US,") and line.endswith(",Bill,") for line in lines)
    assert any(line.startswith("+12125551213,US,") and line.endswith(",,10024") for line in lines)


def import_csv(client, text: str):
    """Upload a file to the import page: the dry-run preview."""
    upload = io.BytesIO(text.encode())
    upload.name = "subscribers.csv"
    return client.post(
        reverse("admin:crm_subscriber_import"), {"format": "0", "import_file": upload}
    )


def confirm(client, preview):
    form = preview.context["confirm_form"]
    return client.post(reverse("admin:crm_subscriber_process_import"), form.initial)


def test_import_previews_normalised_numbers_without_saving(admin_client, db):
    preview = import_csv(admin_client, "Mobile,Carrier,Name\n(212) 555-1212,VZ,Bill\n")

    html = preview.content.decode()
    assert "+12125551212" in html
    assert "confirm_form" in preview.context
    assert not Subscriber.objects.exists()


def test_import_confirmed_upserts_like_a_callback(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", carrier="VZ", fields={"Zip": "10024"})
    preview = import_csv(
        admin_client,
        "mobile,country,carrier,Name\n212-555-1212,,,Bill\n+44 7911 123456,GB,EE,Ann\n",
    )

    confirm(admin_client, preview)

    bill = Subscriber.objects.get(mobile="+12125551212")
    assert (bill.carrier, bill.fields) == ("VZ", {"Zip": "10024", "Name": "Bill"})
    ann = Subscriber.objects.get(mobile="+447911123456")
    assert (ann.country, ann.carrier, ann.fields) == ("GB", "EE", {"Name": "Ann"})


def test_import_reports_invalid_rows_by_line_and_imports_nothing(admin_client, db):
    preview = import_csv(admin_client, "mobile,Name\n2125551212,Bill\nnot a number,Bob\n555,Ann\n")

    html = preview.content.decode()
    assert "confirm_form" not in preview.context
    assert "not a phone number" in html and "not a valid phone number" in html
    result = preview.context["result"]
    assert [row.number for row in result.invalid_rows] == [2, 3]
    assert not Subscriber.objects.exists()


def test_import_needs_permission_to_add(client, django_user_model, db):
    user = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_subscriber"))
    client.force_login(user)

    assert client.get(reverse("admin:crm_subscriber_import")).status_code == 403


def test_date_drill_down_reads_only_the_range_ends(admin_client, db):
    assert periods(date(2024, 11, 5), date(2026, 2, 1), "year") == [
        date(2024, 1, 1),
        date(2025, 1, 1),
        date(2026, 1, 1),
    ]
    assert periods(date(2025, 11, 5), date(2026, 2, 1), "month") == [
        date(2025, 11, 1),
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
    ]
    assert len(periods(date(2026, 2, 1), date(2026, 2, 28), "day")) == 28


def test_subscriber_list_drills_down_by_year(admin_client, db):
    for year in (2024, 2026):
        seen = timezone.make_aware(datetime(year, 3, 1, 12))
        Subscriber.objects.create(mobile=f"+1212555{year}", first_seen_at=seen, last_seen_at=seen)

    page = admin_client.get(CHANGELIST).content.decode()
    year_2024 = admin_client.get(CHANGELIST, {"last_seen_at__year": "2024"}).content.decode()

    assert "last_seen_at__year=2025" in page and "last_seen_at__year=2026" in page
    assert "+12125552024" in year_2024 and "+12125552026" not in year_2024


def test_subscriber_list_offers_import_and_both_exports(admin_client, db):
    page = admin_client.get(CHANGELIST, {"country": "US"}).content.decode()

    assert 'href="/admin/crm/subscriber/import/"' in page
    assert 'href="/admin/crm/subscriber/export.csv?country=US"' in page
    assert 'href="/admin/crm/subscriber/export.xlsx?country=US"' in page


def test_a_subscriber_added_by_hand_gets_a_normalised_number(admin_client, db):
    data = {"mobile": "(212) 555-1212", "country": "US", "carrier": "", "fields": "{}"}
    response = admin_client.post(CHANGELIST + "add/", data)
    assert response.status_code == 302
    assert Subscriber.objects.get().mobile == "+12125551212"

    again = admin_client.post(CHANGELIST + "add/", {**data, "mobile": "2125551212"})
    assert "already exists" in again.content.decode()
    bad = admin_client.post(CHANGELIST + "add/", {**data, "mobile": "555"})
    assert "not a valid phone number" in bad.content.decode()
    assert Subscriber.objects.count() == 1


def test_a_subscribers_number_cannot_be_edited(admin_client, db):
    subscriber = Subscriber.objects.create(mobile="+12125551212")
    data = {"mobile": "+12125551299", "country": "US", "carrier": "X", "fields": "{}"}
    admin_client.post(f"{CHANGELIST}{subscriber.pk}/change/", data)
    subscriber.refresh_from_db()
    assert (subscriber.mobile, subscriber.carrier) == ("+12125551212", "X")


def test_a_filtered_list_counts_only_up_to_the_cap(admin_client, db, monkeypatch):
    monkeypatch.setattr(BigTableMixin, "count_ahead", 5)
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="VZ") for m in numbers(0, 8))
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="ATT") for m in numbers(8, 3))

    many = admin_client.get(CHANGELIST, {"carrier": "VZ"}).content.decode()
    few = admin_client.get(CHANGELIST, {"carrier": "ATT"}).content.decode()
    searched = admin_client.get(CHANGELIST, {"q": "VZ"}).content.decode()

    assert "More than 5 subscribers match" in many
    assert "3 subscribers" in few and "More than" not in few
    assert "More than 5 subscribers match" in searched


def test_a_filtered_lists_count_reaches_further_as_its_pages_are_walked(
    admin_client, db, monkeypatch
):
    monkeypatch.setattr(BigTableMixin, "count_ahead", 5)
    monkeypatch.setattr(admin.site.get_model_admin(Subscriber), "list_per_page", 2)
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="VZ") for m in numbers(0, 11))

    def counted(page: int):
        shown = admin_client.get(CHANGELIST, {"carrier": "VZ", "p": page}).context["cl"]
        return shown.result_count, shown.paginator.capped, len(shown.result_list)

    assert counted(1) == (5, True, 2)  # pages 1-3 offered
    assert counted(3) == (9, True, 2)  # 4 rows before the page, 5 past its start
    assert counted(4) == (11, False, 2)  # every match counted: the true total
    assert counted(6) == (11, False, 1)


def test_the_whole_big_list_shows_the_databases_estimate(admin_client, db, monkeypatch):
    Subscriber.objects.bulk_create(Subscriber(mobile=m) for m in numbers(0, 3))
    monkeypatch.setattr("lib.admin_lists.estimated_rows", lambda model: 250_000)

    page = admin_client.get(CHANGELIST).content.decode()

    assert "About 250000 subscribers: the database's estimate" in page
    assert "+12125550002" in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_class is PostgreSQL's")
def test_the_estimate_is_postgresqls_row_count_after_analyze(db):
    Subscriber.objects.bulk_create(Subscriber(mobile=m) for m in numbers(0, 40))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE crm_subscriber")

    assert estimated_rows(Subscriber) == 40


def test_carrier_and_country_filters_offer_each_value_once(admin_client, db):
    for n, carrier in enumerate(["VZ", "ATT", "VZ", "", "TMO"]):
        Subscriber.objects.create(mobile=f"+1212555000{n}", carrier=carrier, country="US")

    page = admin_client.get(CHANGELIST).content.decode()

    assert distinct_values(Subscriber, "carrier") == ["", "ATT", "TMO", "VZ"]
    assert distinct_values(Subscriber, "country") == ["US"]
    assert page.count('href="?carrier=VZ"') == 1 and 'href="?carrier=TMO"' in page


def test_a_searched_list_asks_for_its_date_range_once(admin_client, db):
    Subscriber.objects.bulk_create(Subscriber(mobile=m) for m in numbers(0, 3))

    with CaptureQueriesContext(connection) as captured:
        page = admin_client.get(CHANGELIST, {"q": "5550001"}).content.decode()

    assert "+12125550001" in page and "+12125550002" not in page
    # The range's two ends, each the first row of the list's order one way (one query).
    assert sum('AS "first"' in q["sql"] and 'AS "last"' in q["sql"] for q in captured) == 1


def test_lists_show_times_with_minutes_in_the_configured_time_zone(admin_client, db, settings):
    settings.TIME_ZONE = "America/New_York"
    seen = datetime(2026, 3, 1, 21, 5, tzinfo=UTC)  # 16:05 in New York
    Subscriber.objects.create(mobile="+12125551212", first_seen_at=seen, last_seen_at=seen)

    page = admin_client.get(CHANGELIST).content.decode()

    assert "Mar 1, 2026 16:05" in page and "p.m." not in page
    assert "Times in America/New_York." in page


def test_numbers_show_national_for_the_default_country_and_international_otherwise(
    admin_client, db
):
    Subscriber.objects.create(mobile="+12125551212")
    Subscriber.objects.create(mobile="+442071838750")

    page = admin_client.get(CHANGELIST).content.decode()

    assert '<span title="+12125551212">(212) 555-1212</span>' in page
    assert '<span title="+442071838750">+44 20 7183 8750</span>' in page


def test_custom_fields_are_columns_and_their_values_are_searchable(admin_client, db):
    Subscriber.objects.create(mobile="+12125551212", fields={"Name": "Bill", "Zip": "10024"})
    Subscriber.objects.create(mobile="+12125551213", fields={"Name": "Ann", "Zip": "33101"})

    response = admin_client.get(CHANGELIST)
    by_zip = admin_client.get(CHANGELIST, {"q": "10024"}).content.decode()
    by_name = admin_client.get(CHANGELIST, {"q": "ann"}).content.decode()

    columns = [getattr(c, "__name__", c) for c in response.context["cl"].list_display]
    assert columns[-2:] == ["fields_Name", "fields_Zip"]
    page = response.content.decode()
    assert 'class="field-fields_Name' in page and ">Bill<" in page and ">33101<" in page
    assert "+12125551212" in by_zip and "+12125551213" not in by_zip
    assert "+12125551213" in by_name and "+12125551212" not in by_name


def test_staff_edit_custom_fields_row_by_row(admin_client, db):
    subscriber = Subscriber.objects.create(
        mobile="+12125551212", fields={"Name": "Bill", "Zip": "10024"}
    )
    url = f"{CHANGELIST}{subscriber.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="fields_key" value="Zip"' in page and 'name="fields_value" value="10024"' in page

    admin_client.post(
        url,
        {
            "country": "US",
            "carrier": "",
            # Name renamed in place, Zip emptied (removed), a new field in an empty row.
            "fields_key": ["Name", "Zip", "City", ""],
            "fields_value": ["William", "", "Tampa", ""],
        },
    )

    subscriber.refresh_from_db()
    assert subscriber.fields == {"Name": "William", "City": "Tampa"}


def test_a_custom_field_named_twice_is_explained(admin_client, db):
    subscriber = Subscriber.objects.create(mobile="+12125551212")
    url = f"{CHANGELIST}{subscriber.pk}/change/"

    response = admin_client.post(
        url, {"country": "US", "fields_key": ["Zip", "Zip"], "fields_value": ["1", "2"]}
    )

    assert "The field &#x27;Zip&#x27; appears twice." in response.content.decode()
    subscriber.refresh_from_db()
    assert subscriber.fields == {}


def test_the_subscriber_page_shows_the_number_as_lists_do_and_its_time_zone(
    admin_client, db, settings
):
    settings.TIME_ZONE = "America/New_York"
    seen = datetime(2026, 3, 1, 21, 5, tzinfo=UTC)  # 16:05 in New York
    subscriber = Subscriber.objects.create(
        mobile="+12125551212", first_seen_at=seen, last_seen_at=seen
    )

    page = admin_client.get(f"{CHANGELIST}{subscriber.pk}/change/").content.decode()

    assert '<span title="+12125551212">(212) 555-1212</span>' in page
    assert "Mar 1, 2026 16:05" in page
    assert "Times in America/New_York." in page
    # Read-only: the number is who the subscriber is.
    assert 'name="mobile"' not in page


def test_every_cell_is_labelled_with_its_column_for_phones(admin_client, db):
    """The column headers are worked out once a list (lib.admin_lists.headers_once_per_list),
    and still label every row's cells."""
    Subscriber.objects.bulk_create(Subscriber(mobile=m, carrier="VZ") for m in numbers(0, 3))

    page = admin_client.get(CHANGELIST).content.decode()

    assert page.count('data-label="carrier"') == 3
    assert page.count('data-label="Mobile"') == 3


def test_the_subscriber_form_explains_its_fields_in_plain_words(admin_client, db):
    page = admin_client.get(f"{CHANGELIST}add/").content.decode()

    assert "e.g. +1 212 555 1212" in page
    assert "Two letters, e.g. US or GB." in page
    assert "one field a row" in page
    for jargon in ("E.164", "ISO 3166", "alpha-2", "JSON"):
        assert jargon not in page
