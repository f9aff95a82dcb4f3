"""A stored callback's parameters, read as Django reads a live request's.

Parsing reads the stored event, not the request, so `reprocess_callbacks` sees exactly the
parameters the view saw.
"""

from io import BytesIO

from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError

from callbacks.models import CallbackEvent
from callbacks.parsing import InvalidCallback

FORM_ENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def read_params(event: CallbackEvent) -> list[tuple[str, str]]:
    """The parameters as sent: the query string's, then a form or multipart body's.

    Raises InvalidCallback when they cannot be read at all.
    """
    try:
        return _read(event.method, event.query_string, event.content_type, event.body)
    except (TooManyFieldsSent, TooManyFilesSent):
        raise InvalidCallback("too many parameters") from None
    except MultiPartParserError as e:
        raise InvalidCallback(f"malformed multipart body: {e}") from None


def _read(method: str, query_string: str, content_type: str, body: str) -> list[tuple[str, str]]:
    pairs = list(QueryDict(query_string).items())
    if method != "POST":
        return pairs
    if content_type.startswith(FORM_ENCODED):
        pairs += QueryDict(body).items()
    elif content_type.startswith(MULTIPART):
        raw = body.encode()
        meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": len(raw)}
        fields, _files = MultiPartParser(meta, BytesIO(raw), [], "utf-8").parse()
        pairs += fields.items()
    return pairs
