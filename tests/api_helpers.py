"""API test helpers: integration users, token clients, and rows made as callbacks make them."""

from datetime import datetime
from urllib.parse import urlencode

from django.contrib.auth.models import Permission, User
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from callbacks.models import CallbackEvent, Endpoint


def integration_user(*perms: str, staff: bool = False, name: str = "warehouse") -> User:
    """A user with the given "app.codename" permissions, as an admin would set one up."""
    user = User.objects.create_user(name, is_staff=staff)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def client_for(user: User | None) -> APIClient:
    """A client that sends the user's token, as an integration does; anonymous for None."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def receive(kind: str, at: datetime | None = None, **params: str):
    """Record a callback as the callback view does, and return the row it produced."""
    endpoint = Endpoint.objects.first() or Endpoint.objects.create(name="Sumotext")
    event = CallbackEvent(
        endpoint=endpoint,
        kind=kind,
        method="GET",
        query_string=urlencode(params),
        received_at=at or timezone.now(),
    )
    return event.handle()


def vote(mobile: str, reply: str, *, key: str = "PIZZA", at=None, **params):
    params = {"shortcode": "12345", "key": key, "label": reply, **params}
    return receive("poll", at=at, mobile=mobile, reply=reply, **params)
