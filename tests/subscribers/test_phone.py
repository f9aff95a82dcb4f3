import subprocess
import sys

import pytest

from subscribers.phone import (
    US_REGIONS,
    InvalidMobile,
    country_code,
    display_mobile,
    nanp_places,
    normalise_mobile,
    state_name,
    us_state,
)


@pytest.mark.parametrize(
    "raw", ["2125551212", "+1 212-555-1212", "12125551212", "(212) 555-1212", " 212.555.1212 "]
)
def test_it_reads_us_numbers_in_any_format_as_one_number(raw):
    assert normalise_mobile(raw) == "+12125551212"


@pytest.mark.parametrize("country", ["USA", "US", "us", "United States"])
def test_it_reads_the_country_as_alpha2_alpha3_or_name(country):
    assert normalise_mobile("2125551212", country) == "+12125551212"


def test_it_reads_national_numbers_in_the_given_country():
    assert normalise_mobile("020 7183 8750", "GBR") == "+442071838750"


def test_an_international_number_ignores_the_country():
    assert normalise_mobile("+44 20 7183 8750", "USA") == "+442071838750"


def test_an_unknown_country_falls_back_to_the_default(settings):
    settings.DEFAULT_COUNTRY = "GB"
    assert normalise_mobile("020 7183 8750", "Atlantis") == "+442071838750"


@pytest.mark.parametrize("raw", ["", "   ", "abc", "12", "5551212", "1" * 300, "+999 123"])
def test_it_rejects_what_cannot_be_a_phone_number(raw):
    with pytest.raises(InvalidMobile):
        normalise_mobile(raw)


def test_country_code_is_empty_for_unknown_countries():
    assert country_code("USA") == "US"
    assert country_code("nowhere") == ""
    assert country_code("") == ""


def test_it_shows_numbers_of_the_default_country_the_national_way():
    assert display_mobile("+12125551212", "US") == "(212) 555-1212"
    assert display_mobile("+442071838750", "US") == "+44 20 7183 8750"
    assert display_mobile("+442071838750", "GB") == "020 7183 8750"


@pytest.mark.parametrize(
    "mobile, state",
    [
        ("+12125551212", "New York"),  # the geocoder says "New York, NY"
        ("+13055550000", "Florida"),  # the geocoder says "Florida"
        ("+14155550100", "California"),
        ("+17875550000", "Puerto Rico"),
        ("+442071838750", ""),
        ("+12082925555", "Idaho"),  # "Coeur d'Alene, ID": a quote in the data
        ("+18005551212", ""),  # toll-free: a number of no place
        ("+1671555010", ""),  # too short to be a number
    ],
)
def test_it_finds_the_us_state_of_a_number_offline(mobile, state):
    assert us_state(mobile) == state


def test_it_reads_the_geocoders_own_names_for_every_plus_one_prefix():
    from phonenumbers.geodata import GEOCODE_DATA  # the whole geocoder, here only

    expected = {
        prefix: names["en"]
        for prefix, names in GEOCODE_DATA.items()
        if prefix.startswith("1") and "en" in names
    }
    assert len(expected) > 1000
    assert nanp_places() == expected


def test_it_names_every_area_code_as_the_whole_geocoder_does():
    import phonenumbers
    from phonenumbers import geocoder  # the whole geocoder, here only

    def as_the_geocoder_says(e164):  # what us_state() did with the whole geocoder loaded
        number = phonenumbers.parse(e164)
        if phonenumbers.region_code_for_number(number) not in US_REGIONS:
            return ""
        place = geocoder.description_for_number(number, "en")
        return state_name(place)

    numbers = [f"+1{area}{exchange}0123" for area in range(200, 1000) for exchange in (555, 292)]
    numbers += [f"+1{prefix[1:]}{'0123456789'[: 11 - len(prefix)]}" for prefix in nanp_places()]
    assert [us_state(n) for n in numbers] == [as_the_geocoder_says(n) for n in numbers]


def test_finding_a_state_leaves_the_geocoders_other_countries_unloaded():
    # Every server process would hold them: about 100 MB (bench/exports.py's worker RSS).
    script = (
        "import sys; from subscribers.phone import us_state; "
        "assert us_state('+12125551212') == 'New York'; "
        "print(sorted(m for m in sys.modules if m.startswith('phonenumbers.geo')))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
