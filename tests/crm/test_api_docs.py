import re

import pytest

from tests.helpers import client_for, integration_user

pytestmark = pytest.mark.django_db

ASSET = re.compile(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"]+)\"", re.IGNORECASE)


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_send_anonymous_visitors_to_log_in(client, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_nothing_from_outside_the_site(client, url):
    client.force_login(integration_user())
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/schema/" in page
    assets = ASSET.findall(page)
    assert assets, "the page loads its viewer"
    for asset in assets:
        assert asset.startswith("/static/"), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


def test_the_schema_needs_a_login_and_describes_every_endpoint():
    assert client_for(None).get("/api/v1/schema/").status_code == 401
    response = client_for(integration_user()).get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for endpoint in (
        "subscribers",
        "campaigns",
        "poll-choices",
        "poll-responses",
        "info-requests",
        "form-submissions",
        "callbacks",
    ):
        assert f"/api/v1/{endpoint}/" in paths
    assert "/api/v1/campaigns/{id}/results/" in paths
    formats = paths["/api/v1/poll-responses/"]["get"]["responses"]["200"]["content"]
    assert set(formats) == {"application/json", "text/csv"}


def test_a_user_gets_a_token_with_their_password(client):
    user = integration_user()
    user.set_password("s3cret-enough-pass")
    user.save()
    response = client.post(
        "/api/v1/token/",
        {"username": "warehouse", "password": "s3cret-enough-pass"},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["token"] == user.auth_token.key
    wrong = client.post(
        "/api/v1/token/", {"username": "warehouse", "password": "nope"}, "application/json"
    )
    assert wrong.status_code == 403
    assert wrong.json()["detail"] == "Unable to log in with provided credentials."


def test_password_guessing_for_a_token_is_locked_out(client):
    integration_user()
    answers = [
        client.post(
            "/api/v1/token/", {"username": "warehouse", "password": f"guess{i}"}, "application/json"
        ).status_code
        for i in range(6)
    ]
    assert answers == [403] * 4 + [429] * 2
