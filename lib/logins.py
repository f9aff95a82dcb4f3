"""Password guessing through the API: /api/token/ is throttled per client address and per
username, and honours django-axes' lockouts, which the admin's login form shares.

Its own module, not lib/rest.py: DRF imports that from its settings, before its views exist.
"""

import hashlib

from axes.helpers import get_lockout_message
from rest_framework import serializers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.throttling import SimpleRateThrottle

from lib.rest import ClientAddressMixin

WRONG_CREDENTIALS = "Unable to log in with provided credentials."

# A password guesser gets a few tries a minute, however the tries are spread.
GUESS_RATE = "10/min"


class PasswordAddressThrottle(ClientAddressMixin, SimpleRateThrottle):
    """Token requests per client address, whoever the request says it is.

    DRF's AnonRateThrottle lets any request with a valid token in Authorization through: a
    guesser with one token of their own would never be counted.
    """

    scope = "password-address"

    def get_rate(self) -> str:
        return GUESS_RATE

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class PasswordUsernameThrottle(SimpleRateThrottle):
    """Token requests per username asked for, from any number of addresses."""

    scope = "password-username"

    def get_rate(self) -> str:
        return GUESS_RATE

    def get_cache_key(self, request, view) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if not username:
            return None  # DRF answers 400 "This field is required." and checks no password
        # Hashed: the key holds no user input, whatever its length or characters.
        ident = hashlib.sha256(str(username).encode("utf-8", "replace")).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PasswordTokenView(ObtainAuthToken):
    """POST a username and password, get the user's token: throttled per address and per
    username, and refused while django-axes has the username or address locked out (the
    admin's login and this count failures together)."""

    throttle_classes = [PasswordAddressThrottle, PasswordUsernameThrottle]

    # A well-formed request whose username and password match no user: 403, as a request
    # whose token matches none. (401 would promise a WWW-Authenticate scheme to answer with.)
    extra_error_statuses = (403,)

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except serializers.ValidationError as e:
            # Axes flags the request it saw fail; a locked-out caller is told so, as a 429.
            if getattr(request, "axes_locked_out", False):
                raise Throttled(detail=str(get_lockout_message())) from None
            if e.get_codes() == {"non_field_errors": ["authorization"]}:
                raise PermissionDenied(WRONG_CREDENTIALS) from None
            raise
