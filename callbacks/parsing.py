"""Turn a callback's parameters into a small typed value, or one clear reason why not.

The platform's parameter names vary in case and spelling ("short code", "carrierId"),
and clients may add their own: names are matched here, once, for everything downstream.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django import forms
from django.core.exceptions import ValidationError

from campaigns.models import Kind, clean_keyword
from lib.text import canonical_name
from subscribers.phone import InvalidMobile, country_code, read_mobile

# Lower-cased parameter name (spaces and underscores removed) -> field, per kind.
COMMON_NAMES = {
    "mobile": "mobile",
    "shortcode": "shortcode",
    "key": "keyword",
    "keyword": "keyword",
    "carrier": "carrier",
    "carrierid": "carrier",
    "country": "country",
}
NAMES = {
    Kind.FORM: COMMON_NAMES,
    Kind.POLL: {**COMMON_NAMES, "reply": "reply", "label": "label"},
    Kind.INFO: {**COMMON_NAMES, "lead": "keyword", "msg": "message", "message": "message"},
}

MAX_CUSTOM_NAME = 100
MAX_CUSTOM_VALUE = 2000


class InvalidCallback(ValueError):
    """The callback cannot be recorded; str() is the one-line reason sent back."""


class CallbackForm(forms.Form):
    mobile = forms.CharField(max_length=40)
    keyword = forms.CharField(max_length=64)
    shortcode = forms.CharField(max_length=20, required=False)
    carrier = forms.CharField(max_length=64, required=False)
    country = forms.CharField(max_length=64, required=False)


class PollForm(CallbackForm):
    reply = forms.CharField(max_length=64)
    label = forms.CharField(max_length=255, required=False)


class InfoForm(CallbackForm):
    message = forms.CharField(max_length=MAX_CUSTOM_VALUE, required=False)


FORMS = {Kind.FORM: CallbackForm, Kind.POLL: PollForm, Kind.INFO: InfoForm}


def clean(form_class: type[forms.Form], data: dict) -> dict:
    """form_class(data)'s cleaned_data, or its first error as InvalidCallback: each declared
    field's own clean(), without binding a form (which deep-copies every field, a third of
    a callback's parsing). The forms declare no clean methods of their own."""
    cleaned = {}
    for name, declared in form_class.base_fields.items():
        try:
            cleaned[name] = declared.clean(data.get(name))
        except ValidationError as e:
            raise InvalidCallback(f"{name}: {e.messages[0]}") from None
    return cleaned


@dataclass(frozen=True)
class Callback:
    kind: str
    mobile: str  # E.164
    keyword: str
    shortcode: str = ""
    carrier: str = ""
    country: str = ""  # ISO alpha-2
    reply: str = ""
    label: str = ""
    message: str = ""
    # Form callbacks: the client's custom fields. Other kinds: parameters we don't know.
    fields: dict = field(default_factory=dict)
    extras: dict = field(default_factory=dict)


def check_custom(name: str, value: str) -> None:
    if "\x00" in name or "\x00" in value:
        raise InvalidCallback(f"{name[:40]!r}: null characters are not allowed")
    if len(name) > MAX_CUSTOM_NAME:
        raise InvalidCallback(f"parameter name {name[:40]!r}… is too long")
    if len(value) > MAX_CUSTOM_VALUE:
        raise InvalidCallback(f"{name[:40]}: value is too long (max {MAX_CUSTOM_VALUE})")


def parse(kind: str, params: Iterable[tuple[str, str]]) -> Callback:
    names = NAMES[kind]
    known, others = {}, {}
    for name, value in params:
        if not name.strip():
            continue  # "&&" and "=value" carry nothing
        if canonical_name(name) in names:
            known[names[canonical_name(name)]] = value
        else:
            check_custom(name, value)
            others[name.strip()] = value.strip()

    # An unencoded "+" arrives as a space: " 442071838750" was "+442071838750".
    mobile = known.get("mobile", "")
    if mobile[:1] == " " and mobile.strip()[:1].isdigit():
        known["mobile"] = "+" + mobile.strip()

    data = clean(FORMS[kind], known)

    keyword = clean_keyword(data["keyword"])
    if not keyword:
        if data["keyword"].strip():
            raise InvalidCallback("keyword: only control or invisible characters")
        raise InvalidCallback("keyword: This field is required.")
    try:
        mobile, region = read_mobile(data["mobile"], data["country"])
    except InvalidMobile as e:
        raise InvalidCallback(str(e)) from None

    return Callback(
        kind=kind,
        mobile=mobile,
        keyword=keyword,
        shortcode=data["shortcode"],
        carrier=data["carrier"],
        country=country_code(data["country"]) or region,
        reply=data.get("reply", ""),
        label=data.get("label", ""),
        message=data.get("message", ""),
        fields=others if kind == Kind.FORM else {},
        extras={} if kind == Kind.FORM else others,
    )
