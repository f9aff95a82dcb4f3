"""The one place where mobile numbers and country codes are read."""

import ast
import functools
import importlib.util
import re
from pathlib import Path

import phonenumbers
import pycountry
from django.conf import settings
from django.utils.html import format_html


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


def country_codes() -> list[str]:
    """Every ISO 3166-1 code, alpha-2 ("US") and alpha-3 ("USA"), upper case."""
    return sorted(
        code for country in pycountry.countries for code in (country.alpha_2, country.alpha_3)
    )


def normalise_mobile(raw: str, country: str = "") -> str:
    """Return the number in E.164 ("+12125551212").

    `country` is the country the number is read in when it carries no "+" prefix: an ISO
    alpha-2 or alpha-3 code or a name; when empty or unknown, settings.DEFAULT_COUNTRY.
    """
    return phonenumbers.format_number(
        parse_mobile(raw, country), phonenumbers.PhoneNumberFormat.E164
    )


def read_mobile(raw: str, country: str = "") -> tuple[str, str]:
    """normalise_mobile()'s number and the country it belongs to (region_of() of it), from
    one parse: a callback needs both."""
    number = parse_mobile(raw, country)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return e164, phonenumbers.region_code_for_number(number) or ""


def parse_mobile(raw: str, country: str = "") -> phonenumbers.PhoneNumber:
    """The valid number `raw` is, read as normalise_mobile() reads it, or InvalidMobile."""
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
    return number


def region_of(e164: str) -> str:
    """The ISO alpha-2 country a normalised number belongs to ("" if none)."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164)) or ""


def display_mobile(e164: str, default_country: str | None = None) -> str:
    """How a person reads the number: national for the default country ("(212) 555-1212"),
    international otherwise ("+44 7700 900123"). The stored E.164 text if it will not parse.
    `default_country`: settings.DEFAULT_COUNTRY unless given."""
    default_country = default_country or settings.DEFAULT_COUNTRY
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    if phonenumbers.region_code_for_number(number) == default_country:
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def us_state(e164: str) -> str:
    """The US state (or territory) a +1 number's area code belongs to, as phonenumbers'
    offline geocoder names it (its description_for_number(), in English); "" for other
    numbers or when the geocoder does not know."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return ""
    region = phonenumbers.region_code_for_number(number)
    kind = phonenumbers.number_type(number)
    if region not in US_REGIONS or kind == phonenumbers.PhoneNumberType.UNKNOWN:
        return ""
    if not phonenumbers.is_number_type_geographical(kind, number.country_code):
        # Toll-free and the like: the territory's name where only one has such numbers.
        valid_in = [
            code
            for code in phonenumbers.region_codes_for_country_code(number.country_code)
            if phonenumbers.is_valid_number_for_region(number, code)
        ]
        return US_REGIONS.get(valid_in[0], "") if len(valid_in) == 1 else ""
    digits = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)[1:]
    places = nanp_places()
    # The longest prefix the geocoder knows wins, as in the geocoder ("1212" < "1212200").
    for length in range(min(len(digits), NANP_LONGEST_PREFIX), 0, -1):
        if place := places.get(digits[:length]):
            return state_name(place)
    return US_REGIONS[region]


# NANP regions whose numbers the geocoder describes by US state or territory, and its names
# for them, where it knows no place.
US_REGIONS = {
    "US": "United States",
    "PR": "Puerto Rico",
    "GU": "Guam",
    "VI": "U.S. Virgin Islands",
    "AS": "American Samoa",
    "MP": "Northern Mariana Islands",
}
NANP_LONGEST_PREFIX = 7


@functools.cache
def state_name(place: str) -> str:
    """ "New York, NY" names a city and its state's code: the state's name; "Florida" names
    the state."""
    if ", " in place:
        code = place.rsplit(", ", 1)[1]
        subdivision = pycountry.subdivisions.get(code=f"US-{code}")
        return subdivision.name if subdivision else code
    return place


# One entry of the geocoder's data files for a +1 prefix, its English name as a literal:
#  '1201200':{'en': 'Jersey City, NJ'},  or  {'en': u('Barri\u00e8re, BC')}
GEODATA_ENTRY = re.compile(r"^ '(1\d*)':\{.*?'en': (?:u\()?'((?:[^'\\]|\\.)*)'", re.MULTILINE)


@functools.cache
def nanp_places() -> dict[str, str]:
    """The geocoder's English place names of +1 prefixes ({"1212": "New York, NY", ...}).

    Read from its data files, not imported: `phonenumbers.geocoder` loads every country in
    every language, about 100 MB in each server process, where these take about 5 MB. The
    files hold the prefixes in order, so the +1 ones are in the first few.
    """
    folder = Path(importlib.util.find_spec("phonenumbers").origin).parent / "geodata"
    files = sorted(folder.glob("data[0-9]*.py"), key=lambda path: int(path.stem[4:]))
    places: dict[str, str] = {}
    for path in files:
        found = GEODATA_ENTRY.findall(path.read_text(encoding="utf-8"))
        if not found and places:
            break
        for prefix, name in found:
            places[prefix] = ast.literal_eval(f"'{name}'") if "\\" in name else name
    return places


def mobile_html(e164: str) -> str:
    """The number as a person reads it, the stored E.164 form on hover."""
    return format_html('<span title="{}">{}</span>', e164, display_mobile(e164))
