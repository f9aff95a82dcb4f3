import pytest

from callbacks.parsing import InvalidCallback, parse
from campaigns.models import Kind


def pairs(query: str) -> list[tuple[str, str]]:
    from django.http import QueryDict

    return list(QueryDict(query).items())


def test_a_form_keeps_every_non_standard_parameter_as_a_custom_field():
    cb = parse(
        Kind.FORM,
        pairs(
            "country=USA&shortcode=84700&key=K&mobile=2125551212"
            "&carrierId=V&Name=Bill&lead=x&label=y"
        ),
    )
    assert cb.fields == {"Name": "Bill", "lead": "x", "label": "y"}
    assert cb.extras == {}
    assert (cb.mobile, cb.country, cb.carrier, cb.keyword) == ("+12125551212", "US", "V", "K")


def test_poll_and_info_keep_unknown_parameters_as_extras():
    poll = parse(Kind.POLL, pairs("mobile=2125551212&key=FB1&reply=A&city=Tampa"))
    assert (poll.extras, poll.fields, poll.label) == ({"city": "Tampa"}, {}, "")
    info = parse(Kind.INFO, pairs("lead=HOURS&mobile=2125551212&message=hi&source=web"))
    assert (info.keyword, info.message, info.extras) == ("HOURS", "hi", {"source": "web"})


@pytest.mark.parametrize("name", ["short code", "Short_Code", "SHORTCODE", " shortcode "])
def test_short_code_spellings_are_one_field(name):
    assert (
        parse(
            Kind.POLL, [(name, "84700"), ("mobile", "2125551212"), ("key", "K"), ("reply", "A")]
        ).shortcode
        == "84700"
    )


def test_keywords_lose_surrounding_and_repeated_spaces():
    assert parse(Kind.INFO, pairs("lead=%20Big%20%20Sale%20&mobile=2125551212")).keyword == (
        "Big Sale"
    )


def test_a_poll_country_comes_from_the_number_when_not_sent():
    cb = parse(Kind.POLL, pairs("mobile=%2B442071838750&key=FB1&reply=A"))
    assert (cb.mobile, cb.country) == ("+442071838750", "GB")


def test_empty_parameter_names_are_ignored():
    cb = parse(Kind.INFO, pairs("lead=keyword&&mobile=2125551212&=orphan&msg=ServerMsg"))
    assert (cb.keyword, cb.message, cb.extras) == ("keyword", "ServerMsg", {})


def test_the_reason_names_the_first_bad_field():
    with pytest.raises(InvalidCallback) as error:
        parse(Kind.POLL, pairs("mobile=2125551212&key=FB1"))
    assert str(error.value) == "reply: This field is required."
