"""Password guessing: the admin's login form locks a username and an address (django-axes),
and /api/token/ is throttled per address and per username, whatever the request claims."""

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from rest_framework.authtoken.models import Token

from tests.helpers import integration_user

pytestmark = pytest.mark.django_db

PASSWORD = "right-horse-battery-staple"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture(autouse=True)
def fast_hashes(settings):
    # Every try hashes a password (a wrong username too); the real hasher takes a second here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("admin", password=PASSWORD)


def log_in(client: Client, username: str, password: str, **headers):
    """Post the admin's login form as a browser does (the test client skips CSRF checks)."""
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, **headers
    )


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def from_address(address: str) -> Client:
    return Client(REMOTE_ADDR=address)


def test_the_right_password_logs_in(client, admin_user):
    response = log_in(client, "admin", PASSWORD)
    assert response.status_code == 302
    assert logged_in(client)


def test_a_wrong_password_is_told_so_and_counted(client, admin_user):
    response = log_in(client, "admin", "guess")
    assert response.status_code == 200
    assert "Please enter the correct username and password" in response.content.decode()
    assert not logged_in(client)


def test_five_wrong_passwords_lock_the_username_even_for_the_right_one(client, admin_user):
    answers = [log_in(client, "admin", f"guess{i}").status_code for i in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    response = log_in(client, "admin", PASSWORD)
    assert response.status_code == 429
    assert "too many login attempts" in response.content.decode()
    assert not logged_in(client)


def test_a_locked_username_stays_locked_from_any_other_address(admin_user):
    for i in range(5):
        log_in(from_address(f"198.51.100.{i}"), "admin", f"guess{i}")
    other = from_address("203.0.113.9")
    assert log_in(other, "admin", PASSWORD).status_code == 429
    assert not logged_in(other)


def test_an_address_trying_many_usernames_is_locked_for_all_of_them(admin_user):
    guesser = from_address("198.51.100.7")
    answers = [log_in(guesser, f"user{i}", "guess").status_code for i in range(5)]
    assert answers == [200, 200, 200, 200, 429]
    assert log_in(guesser, "admin", PASSWORD).status_code == 429
    # Someone else still gets in.
    assert log_in(from_address("203.0.113.9"), "admin", PASSWORD).status_code == 302


def test_a_forged_forwarded_for_header_does_not_give_a_new_address(admin_user):
    guesser = from_address("198.51.100.7")
    for i in range(5):
        log_in(guesser, f"user{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
    assert log_in(guesser, "admin", PASSWORD, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_behind_a_trusted_proxy_the_forwarded_address_is_the_one_locked(admin_user):
    proxy = from_address("127.0.0.1")
    for i in range(5):
        log_in(proxy, f"user{i}", "guess", HTTP_X_FORWARDED_FOR="forged, 198.51.100.7")
    locked = log_in(proxy, "admin", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert locked.status_code == 429
    # Another client behind the same proxy is not locked out with it.
    other = log_in(proxy, "admin", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7, 203.0.113.9")
    assert other.status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(client, admin_user):
    for i in range(4):
        log_in(client, "admin", f"guess{i}")
    assert log_in(client, "admin", PASSWORD).status_code == 302
    client.logout()
    answers = [log_in(client, "admin", f"again{i}").status_code for i in range(4)]
    assert answers == [200] * 4
    assert log_in(client, "admin", PASSWORD).status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, admin_user):
    from axes.models import AccessAttempt

    for i in range(5):
        log_in(client, "admin", f"guess{i}")
    assert log_in(client, "admin", PASSWORD).status_code == 429
    # Fifteen minutes later (the failures are rows with the time of the last one).
    AccessAttempt.objects.update(attempt_time="2000-01-01T00:00:00Z")
    assert log_in(client, "admin", PASSWORD).status_code == 302


# /api/token/


# The throttles alone: django-axes would lock these guessers out after five failures first.
only_throttles = override_settings(AXES_FAILURE_LIMIT=1000)


def token_request(client, username: str, password: str, **headers) -> int:
    data = {"username": username, "password": password}
    return client.post("/api/v1/token/", data, "application/json", **headers).status_code


@only_throttles
def test_token_guesses_are_counted_per_address_whatever_the_usernames(client):
    answers = [token_request(client, f"user{i}", "guess") for i in range(11)]
    assert answers == [403] * 10 + [429]


@only_throttles
def test_token_guesses_are_counted_per_username_from_any_address():
    answers = [token_request(from_address(f"198.51.100.{i}"), "warehouse", "x") for i in range(11)]
    assert answers == [403] * 10 + [429]
    # Another username from a fresh address is still served.
    assert token_request(from_address("203.0.113.9"), "other", "x") == 403


@only_throttles
def test_a_valid_token_in_authorization_does_not_lift_the_token_throttle(client):
    own = Token.objects.create(user=integration_user(name="mine")).key
    auth = {"HTTP_AUTHORIZATION": f"Token {own}"}
    answers = [token_request(client, f"user{i}", "guess", **auth) for i in range(11)]
    assert answers == [403] * 10 + [429]


@only_throttles
def test_a_changing_forwarded_for_does_not_lift_the_token_throttle(client):
    answers = [
        token_request(client, f"user{i}", "guess", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}")
        for i in range(11)
    ]
    assert answers == [403] * 10 + [429]


def test_token_guesses_lock_the_username_as_admin_logins_do(client):
    answers = [token_request(client, "warehouse", f"guess{i}") for i in range(5)]
    assert answers == [403, 403, 403, 403, 429]


def test_locked_out_usernames_get_no_token_even_with_the_right_password(admin_user):
    for i in range(5):
        log_in(from_address(f"198.51.100.{i}"), "admin", f"guess{i}")
    response = from_address("203.0.113.9").post(
        "/api/v1/token/", {"username": "admin", "password": PASSWORD}, "application/json"
    )
    assert response.status_code == 429, response.content
    assert "too many login attempts" in response.json()["detail"]
