"""The callback token is the endpoint's only secret: masked to those who may not change
endpoints, rotated from the admin, and never written to a log."""

import logging
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from callbacks.models import CallbackEvent, Endpoint
from tests.helpers import integration_user

pytestmark = pytest.mark.django_db

VOTE = "?mobile=2125551212&shortcode=84700&key=FB1&reply=A&label=Tampa"


def change_page(client, endpoint) -> str:
    response = client.get(f"/admin/callbacks/endpoint/{endpoint.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def viewer(client) -> User:
    user = integration_user("callbacks.view_endpoint", staff=True, name="viewer")
    client.force_login(user)
    return client


def test_who_may_only_view_endpoints_sees_the_token_masked_and_no_urls(viewer, endpoint):
    page = change_page(viewer, endpoint)
    assert endpoint.token not in page
    assert endpoint.masked_token in page
    assert 'id="callback-urls"' not in page
    assert "Rotate token" not in page
    listing = viewer.get("/admin/callbacks/endpoint/").content.decode()
    assert endpoint.name in listing
    assert endpoint.token not in listing


def test_who_may_change_endpoints_sees_the_token_and_its_urls(admin_client, endpoint):
    page = change_page(admin_client, endpoint)
    assert f"<code>http://testserver/callbacks/{endpoint.token}/poll/</code>" in page
    assert "Rotate token" in page
    listing = admin_client.get("/admin/callbacks/endpoint/").content.decode()
    assert endpoint.token not in listing  # the list shows no one the whole token


def test_who_may_only_view_endpoints_cannot_rotate_the_token(viewer, endpoint):
    token = endpoint.token
    url = f"/admin/callbacks/endpoint/{endpoint.pk}/rotate/"
    assert viewer.post(url, {"old_token_works_for": "0"}).status_code == 403
    endpoint.refresh_from_db()
    assert endpoint.token == token


def rotate(client, endpoint, keep: str):
    url = f"/admin/callbacks/endpoint/{endpoint.pk}/rotate/"
    assert client.get(url).status_code == 200
    response = client.post(url, {"old_token_works_for": keep}, follow=True)
    assert response.status_code == 200
    return response.content.decode()


def test_a_rotated_token_works_at_once_and_the_old_one_until_the_chosen_time(
    admin_client, client, endpoint
):
    old = Endpoint.objects.get(pk=endpoint.pk)
    page = rotate(admin_client, endpoint, "1d")
    endpoint.refresh_from_db()
    assert endpoint.token != old.token
    assert "New token made. The old one works until" in page
    assert f"/callbacks/{endpoint.token}/poll/" in page

    assert client.get(endpoint.url_path("poll") + VOTE).status_code == 200
    assert client.get(old.url_path("poll") + VOTE).status_code == 200
    # A day later the old URL opens nothing.
    Endpoint.objects.update(previous_token_expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(old.url_path("poll") + VOTE).status_code == 404
    assert client.get(endpoint.url_path("poll") + VOTE).status_code == 200
    assert CallbackEvent.objects.count() == 3


def test_a_token_rotated_to_stop_at_once_is_refused_at_once(admin_client, client, endpoint):
    old = Endpoint.objects.get(pk=endpoint.pk)
    rotate(admin_client, endpoint, "0")
    assert client.get(old.url_path("poll") + VOTE).status_code == 404


def test_a_disabled_endpoint_opens_to_neither_token(admin_client, client, endpoint):
    old = Endpoint.objects.get(pk=endpoint.pk)
    rotate(admin_client, endpoint, "7d")
    Endpoint.objects.update(enabled=False)
    endpoint.refresh_from_db()
    assert client.get(old.url_path("poll") + VOTE).status_code == 404
    assert client.get(endpoint.url_path("poll") + VOTE).status_code == 404


def test_no_token_reaches_the_log_of_a_refused_callback(client, endpoint, caplog):
    caplog.set_level(logging.INFO)
    wrong = "Wr0ngButSecretToken123"
    assert client.get(f"/callbacks/{wrong}/poll/{VOTE}").status_code == 404
    assert client.get(endpoint.url_path("poll") + "?mobile=nonsense").status_code == 400
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "Not Found: /callbacks/<token>/poll/" in logged
    assert "Bad Request: /callbacks/<token>/poll/" in logged
    assert wrong not in logged
    assert endpoint.token not in logged
    assert "2125551212" not in logged
