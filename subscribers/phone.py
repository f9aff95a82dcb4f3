"""The one place where mobile numbers and country codes are read."""

import phonenumbers
import pycountry
from django.conf import settings


class InvalidMobile(ValueError):
    """The text cannot be a mobile number; str() is a reason fit to show the sender."""


def country_code(raw: str) -> str:
    """ISO alpha-2 code for "US", "USA" or "United States"; "" when unknown."""
    raw = (raw or "").strip()
    if not raw or len(raw) > 64:
        return ""
    try:
        return pycountry.countries.lookup(raw).alpha_2
    except LookupError:
        return ""


def normalise_mobile(raw: str, country: str = "") -> str:
    """Return the number in E.164 ("+12125551212").

    `country` is the country the number is read in when it carries no "+" prefix: an ISO
    alpha-2 or alpha-3 code or a name; when empty or unknown, settings.DEFAULT_COUNTRY.
    """
    raw = (raw or "").strip()
    if not raw:
        raise InvalidMobile("mobile is required")
    region = country_code(country) or settings.DEFAULT_COUNTRY
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidMobile(f"mobile {raw[:40]!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidMobile(f"mobile {raw[:40]!r} is not a valid phone number in {region}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def region_of(e164: str) -> str:
    """The ISO alpha-2 country a normalised number belongs to ("" if none)."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""
