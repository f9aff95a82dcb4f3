"""Importing subscribers from a CSV file: what is written, and what the preview shows."""

import html
import io
import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from subscribers.imports import LineNumberedCSV
from subscribers.models import Subscriber

CHANGELIST = "/admin/crm/subscriber/"
LONG_AGO = timezone.now() - timedelta(days=30)


def known(mobile="+12125551212", **values) -> Subscriber:
    values = {"country": "US", "first_seen_at": LONG_AGO, "last_seen_at": LONG_AGO, **values}
    return Subscriber.objects.create(mobile=mobile, **values)


def preview(client, text: str):
    upload = io.BytesIO(text.encode())
    upload.name = "contacts.csv"
    return client.post(
        reverse("admin:crm_subscriber_import"), {"format": "0", "import_file": upload}
    )


def confirm(client, response):
    form = response.context["confirm_form"]
    return client.post(reverse("admin:crm_subscriber_process_import"), form.initial)


def text_of(page: str) -> str:
    """The page's words as a reader sees them: no tags, no attributes, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def rows_of(response) -> dict[int, str]:
    """The preview's rows by the file line they show, as text."""
    page = response.content.decode()
    rows = re.findall(r'<tr class="import-[^"]+" data-line="(\d+)">(.*?)</tr>', page, re.S)
    found = {}
    for line, row in rows:
        found.setdefault(int(line), []).append(text_of(row))
    return {line: " | ".join(texts) for line, texts in found.items()}


# What is written


def test_an_import_leaves_seen_times_and_stamps_imported_at(db):
    bill = known(carrier="VZ", fields={"Name": "Bill", "Zip": "10024"})

    saved = Subscriber.objects.record_import(
        "+12125551212", carrier="", fields={"Zip": "10025", "Name": " "}
    )

    bill.refresh_from_db()
    assert saved.pk == bill.pk
    assert (bill.first_seen_at, bill.last_seen_at) == (LONG_AGO, LONG_AGO)
    assert timezone.now() - bill.imported_at < timedelta(minutes=1)
    # The file's values replace the stored ones; a blank cell erases nothing.
    assert (bill.carrier, bill.fields) == ("VZ", {"Name": "Bill", "Zip": "10025"})


def test_a_subscriber_an_import_adds_is_not_seen_until_a_callback_comes(db):
    at = timezone.now() - timedelta(hours=1)

    ann = Subscriber.objects.record_import("+447400123456", fields={"Name": "Ann"}, imported_at=at)

    ann.refresh_from_db()
    assert (ann.first_seen_at, ann.last_seen_at, ann.imported_at) == (at, None, at)
    assert ann.country == "GB"  # the number's own country when the file gives none


def test_a_callback_after_an_import_is_newer_than_it(db):
    Subscriber.objects.record_import("+12125551212", carrier="VZ", fields={"Name": "William"})

    voted = timezone.now()
    Subscriber.objects.upsert("+12125551212", carrier="TMO", fields={"Name": "Bill"}, seen_at=voted)

    bill = Subscriber.objects.get()
    assert (bill.carrier, bill.fields, bill.last_seen_at) == ("TMO", {"Name": "Bill"}, voted)
    assert bill.first_seen_at < voted  # first known at the import


def test_the_list_shows_the_never_seen_last(admin_client, db):
    known("+12125551212", last_seen_at=LONG_AGO)
    Subscriber.objects.record_import("+12125551213")
    known("+12125551214", last_seen_at=timezone.now())

    page = admin_client.get(CHANGELIST)

    mobiles = [s.mobile for s in page.context["cl"].result_list]
    assert mobiles == ["+12125551214", "+12125551212", "+12125551213"]


# Reading the file


def test_rows_keep_the_line_they_start_on_in_the_file():
    text = '\ufeffmobile,Note\n2125551212,"two\nlines"\n\n2125551213,one line\n'

    dataset = LineNumberedCSV().create_dataset(text.encode())

    assert dataset.headers == ["mobile", "Note"]
    assert [tuple(row) for row in dataset] == [
        ("2125551212", "two\nlines"),
        ("2125551213", "one line"),
    ]
    assert dataset.line_numbers == [2, 5]


# The preview


def test_the_preview_shows_every_column_and_each_change_as_old_to_new(admin_client, db):
    known(carrier="VZ", fields={"Name": "Bill", "Zip": "10024"})

    response = preview(
        admin_client,
        "Mobile,Carrier,Name,Zip,Team\n"
        "(212) 555-1212,,Bill,10025,Blue\n"
        "+44 7911 123456,EE,Ann,,Red\n",
    )

    headers = text_of(response.content.decode().split("<thead>")[-1].split("</thead>")[0])
    assert headers == "Line Result Mobile Carrier Name Zip Team"
    rows = rows_of(response)
    # Line 2 updates Bill: the zip changes, the team is new, the blank carrier keeps VZ.
    assert rows[2] == "2 Changes +12125551212 VZ Bill 10024 → 10025 (empty) → Blue"
    assert rows[3] == "3 New subscriber +447911123456 EE Ann Red"
    assert "confirm_form" in response.context
    assert Subscriber.objects.count() == 1


def test_the_preview_says_when_a_known_subscriber_does_not_change(admin_client, db):
    known(fields={"Name": "Bill"})

    rows = rows_of(preview(admin_client, "mobile,Name\n2125551212,Bill\n"))

    assert rows == {2: "2 No change +12125551212 Bill"}


def test_each_problem_shows_beside_its_row_with_the_files_line(admin_client, db):
    response = preview(
        admin_client,
        'mobile,country,Note\n2125551212,,"a note\nover two lines"\n555,,x\n2125551213,Narnia,y\n',
    )

    assert "confirm_form" not in response.context
    words = text_of(response.content.decode())
    assert "2 rows of the file can't be imported, so nothing was imported." in words
    rows = rows_of(response)
    assert (
        rows[4] == "4 Not imported 555 x | Line 4: Mobile '555' is not a valid phone number in US"
    )
    assert rows[5] == (
        "5 Not imported 2125551213 Narnia y"
        " | Line 5: Country 'Narnia' is unknown: write US, USA or its name"
    )
    assert rows[2].startswith("2 New subscriber +12125551212")
    assert not Subscriber.objects.exists()


def test_a_confirmed_import_writes_what_the_preview_showed(admin_client, db):
    known(carrier="VZ", fields={"Name": "Bill", "Zip": "10024"})
    response = preview(admin_client, "mobile,Zip,Team\n2125551212,10025,Blue\n2125551213,,Red\n")

    confirm(admin_client, response)

    bill, new = (
        Subscriber.objects.get(mobile="+12125551212"),
        Subscriber.objects.get(mobile="+12125551213"),
    )
    assert bill.fields == {"Name": "Bill", "Zip": "10025", "Team": "Blue"}
    assert (bill.last_seen_at, bill.imported_at is not None) == (LONG_AGO, True)
    assert (new.fields, new.country, new.last_seen_at) == ({"Team": "Red"}, "US", None)
    assert new.imported_at == bill.imported_at  # one import, one time


def test_a_file_without_a_mobile_column_says_so(admin_client, db):
    response = preview(admin_client, "Name,Zip\nBill,10024\n")

    page = response.content.decode()
    assert response.status_code == 200
    assert "The file has no mobile column" in text_of(page)
    assert "Traceback" not in page
    assert "confirm_form" not in response.context
    assert not Subscriber.objects.exists()


def test_a_file_that_is_not_utf8_is_refused_in_words(admin_client, db):
    upload = io.BytesIO("mobile,Name\n2125551212,Zoë\n".encode("latin-1"))
    upload.name = "contacts.csv"

    response = admin_client.post(
        reverse("admin:crm_subscriber_import"), {"format": "0", "import_file": upload}
    )

    assert response.status_code == 200
    assert response.context["form"].errors["import_file"]
    assert not Subscriber.objects.exists()
