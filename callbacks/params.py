"""A stored callback's parameters, read as Django reads a live request's.

Parsing reads the stored event, not the request, so `reprocess_callbacks` sees exactly the
parameters the view saw.
"""

from io import BytesIO

from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.http import QueryDict
from django.http.multipartparser import MultiPartParser, MultiPartParserError

from callbacks.models import CallbackEvent, charset_of
from callbacks.parsing import InvalidCallback

FORM_ENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"


def read_params(event: CallbackEvent) -> list[tuple[str, str]]:
    """The parameters as sent: the query string's, then a form or multipart body's.

    Raises InvalidCallback when they cannot be read at all.
    """
    try:
        return _read(event)
    except (TooManyFieldsSent, TooManyFilesSent):
        raise InvalidCallback("too many parameters") from None
    except MultiPartParserError as e:
        raise InvalidCallback(f"malformed multipart body: {e}") from None


def _read(event: CallbackEvent) -> list[tuple[str, str]]:
    pairs = list(QueryDict(event.query_string).items())
    if event.method != "POST":
        return pairs
    content_type = event.content_type
    # Percent-escapes in a body mean bytes of its declared charset, as Django reads them.
    charset = charset_of(content_type)
    if content_type.startswith(FORM_ENCODED):
        pairs += QueryDict(event.body, encoding=charset).items()
    elif content_type.startswith(MULTIPART):
        raw = event.raw_body
        meta = {"CONTENT_TYPE": content_type, "CONTENT_LENGTH": len(raw)}
        fields, _files = MultiPartParser(meta, BytesIO(raw), [], charset).parse()
        pairs += fields.items()
    return pairs
