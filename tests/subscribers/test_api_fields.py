"""Custom fields written through PATCH /api/subscribers/{id}/: names and values a database
cannot keep, or a spreadsheet header should not hold, are a 400 naming the field; nothing is
a 500. Property-based: hypothesis sends any text, surrogate halves and NUL included, and an
oracle written apart from the code says what must happen."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import client_for, integration_user, receive

URL = "/api/v1/subscribers/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def editor():
    return client_for(integration_user("crm.view_subscriber", "crm.change_subscriber"))


@pytest.fixture
def subscriber():
    return receive("form", key="JOIN", mobile="2125551212", Name="Ann").subscriber


def patch(editor, subscriber, fields):
    # json.dumps writes a lone surrogate as the escape "\ud800", as any client could.
    body = json.dumps({"fields": fields})
    return editor.generic("PATCH", f"{URL}{subscriber.id}/", body, "application/json")


@pytest.mark.parametrize(
    "name",
    ["Na\x00me", "Name\x1b[31m", "Line\nbreak", "0\n", "\x7f", "N" * 101, "   ", "bad\ud800"],
)
def test_a_field_name_with_control_characters_or_too_long_is_a_400(editor, subscriber, name):
    response = patch(editor, subscriber, {name: "x", "City": "Tampa"})
    assert response.status_code == 400, response.content
    [field] = response.json()["errors"]
    assert field.startswith("fields.")
    subscriber.refresh_from_db()
    assert subscriber.fields == {"Name": "Ann"}  # nothing of the request was written


def test_a_name_of_100_characters_is_kept(editor, subscriber):
    response = patch(editor, subscriber, {"N" * 100: "x"})
    assert response.status_code == 200, response.content
    subscriber.refresh_from_db()
    assert subscriber.fields == {"Name": "Ann", "N" * 100: "x"}


@pytest.mark.parametrize("value", ["a\x00b", "\udfff"])
def test_a_value_with_nul_or_a_lone_surrogate_is_a_400(editor, subscriber, value):
    response = patch(editor, subscriber, {"City": value})
    assert response.status_code == 400, response.content
    subscriber.refresh_from_db()
    assert subscriber.fields == {"Name": "Ann"}


# The oracle: the rules as a reader of the README would state them.


def name_is_fine(name: str) -> bool:
    return (
        bool(name.strip())
        and len(name) <= 100
        and not any(ord(c) < 32 or 127 <= ord(c) < 160 or 0xD800 <= ord(c) <= 0xDFFF for c in name)
    )


def value_is_fine(value) -> bool:
    if value is None:
        return True
    return len(value.strip()) <= 1000 and not any(
        c == "\x00" or 0xD800 <= ord(c) <= 0xDFFF for c in value
    )


any_text = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=120)
names = st.one_of(any_text, st.sampled_from(["Name", "City", "N" * 100, "N" * 101]))
values = st.one_of(st.none(), any_text, st.text(max_size=1010))


@given(fields=st.dictionaries(names, values, max_size=4))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_custom_fields_are_stored_as_sent_or_refused_whole(editor, subscriber, fields):
    subscriber.refresh_from_db()
    before = dict(subscriber.fields)
    response = patch(editor, subscriber, fields)
    subscriber.refresh_from_db()
    if all(map(name_is_fine, fields)) and all(map(value_is_fine, fields.values())):
        assert response.status_code == 200, response.content
        merged = {**before, **{n: (v or "").strip() for n, v in fields.items()}}
        assert subscriber.fields == {n: v for n, v in merged.items() if v}
    else:
        assert response.status_code == 400, (fields, response.content)
        assert subscriber.fields == before
