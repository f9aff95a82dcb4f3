"""The integration API's shared building blocks: the base of every viewset (a query string
read strictly), lists that are also CSV downloads and changes feeds, one error shape for every
error, and a schema that declares all of it, so a generated client or a fuzzer meets no answer
the schema does not describe.
"""

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, renderers, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

from lib.exports import Column, csv_response, table
from lib.rest import CSVRenderer, requested_page_size
from lib.sync import (
    POSITION_PATTERN,
    START,
    InvalidPosition,
    changed_after,
    decode_position,
    encode_position,
)

PAGE_SIZE_PARAMETER = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1, "maximum": 1000},
    description="Rows per answer, 1 to 1000 (default 50).",
)


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` downloads every row that matches the filters as CSV, unpaginated "
    "(as the `csv/` operation does).",
)
AFTER_PARAMETER = OpenApiParameter(
    "after",
    {"type": "string", "pattern": POSITION_PATTERN},
    description="The `after` of the previous answer; leave it out to start from the beginning.",
)


CHANGES_PARAMETERS = [AFTER_PARAMETER, PAGE_SIZE_PARAMETER]


class ErrorSerializer(serializers.Serializer):
    """Every error the API answers, whatever its status."""

    detail = serializers.CharField(help_text="What went wrong, in one line.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="With a 400: the messages per field or query parameter, e.g. "
        '`{"keyword": ["This field is required."]}`; nested fields are dotted '
        "(`choices.0.reply`); `non_field_errors` holds what concerns no single field.",
    )


def changes_serializer(serializer_class: type) -> type:
    """The answer of a `changes/` operation, for the schema: rows, a position, more or not."""
    name = serializer_class.__name__.removesuffix("Serializer")
    return type(
        f"{name}ChangesSerializer",
        (serializers.Serializer,),
        {
            "results": serializer_class(many=True, help_text="Oldest change first."),
            "after": serializers.CharField(
                help_text="Pass it as `after` next time; keep it between syncs."
            ),
            "more": serializers.BooleanField(
                help_text="More changes are ready now: ask again at once. False: every "
                "change committed so far has been given; poll again later."
            ),
        },
    )


def list_schema(serializer_class: type) -> dict:
    """extend_schema_view(**list_schema(S)): a list's JSON pages, its CSV download and its
    changes feed."""
    return {
        "list": extend_schema(
            parameters=[FORMAT_PARAMETER],
            responses={
                (200, "application/json"): serializer_class(many=True),
                (200, "text/csv"): OpenApiTypes.STR,
            },
        ),
        "csv": extend_schema(
            filters=True,
            responses={(200, "text/csv"): OpenApiTypes.STR},
            description="Every row that matches the filters, as CSV, unpaginated.",
        ),
        "changes": extend_schema(
            filters=False,
            parameters=CHANGES_PARAMETERS,
            responses=changes_serializer(serializer_class),
            description="Rows created or changed after a position, oldest change first: "
            "each change once, none skipped, even while writes commit out of order.",
        ),
    }


def iso_times(row: Iterable) -> tuple:
    """Times in ISO 8601 (2025-06-01T14:00:00+00:00): integrations parse the CSV too."""
    return tuple(value.isoformat() if isinstance(value, datetime) else value for value in row)


class IntegrationViewSet(viewsets.GenericViewSet):
    """What every endpoint of the API shares: a query string read strictly.

    An unknown parameter (a typo such as `recieved_after`) or an empty value is a 400 naming
    what is allowed, never read as "no filter", which would return everything.
    """

    # Parameters an extra action reads, besides `format` (e.g. @action(query_params=...)).
    query_params: Sequence[str] = ()

    def initial(self, request, *args, **kwargs):
        # A method the endpoint has not is a 405 before anything else is read.
        if getattr(self, request.method.lower(), None) is None:
            raise exceptions.MethodNotAllowed(request.method)
        super().initial(request, *args, **kwargs)
        check_query(request.query_params, self.allowed_query_params())

    def allowed_query_params(self) -> set[str]:
        allowed = {"format", *self.query_params}
        filterset = getattr(self, "filterset_class", None)
        if self.action in ("list", "csv") and filterset is not None:
            allowed |= set(filterset.base_filters)
        if self.action == "list":
            allowed |= {"cursor", "page_size"}
        if self.action == "changes":
            allowed |= {"after", "page_size"}
        return allowed

    def perform_content_negotiation(self, request, force=False):
        try:
            return super().perform_content_negotiation(request, force)
        except Http404:
            raise exceptions.ValidationError(
                {"format": ["Not a format this operation answers in."]}
            ) from None


def changes_answer(request, queryset: QuerySet, serializer) -> Response:
    """The rows of `queryset` changed after the request's `after` position (lib.sync), with
    the position to ask from next time and whether more are ready now."""
    text = request.query_params.get("after")
    try:
        position = decode_position(text) if text is not None else START
    except InvalidPosition:
        raise exceptions.ValidationError(
            {"after": ["Not a position this server gave: pass an answer's `after`."]}
        ) from None
    size = requested_page_size(request)
    rows = changed_after(queryset, position, size + 1)
    page, more = rows[:size], len(rows) > size
    if page:
        position = (page[-1].change_seq, page[-1].pk)
    return Response(
        {
            "results": serializer(page, many=True).data,
            "after": encode_position(*position),
            "more": more,
        }
    )


class IntegrationListMixin(mixins.ListModelMixin):
    """A list three ways: JSON pages, CSV (`csv/` or `?format=csv`) and a changes feed.

    CSV: the view declares `csv_columns`, (header, .values_list() path) pairs, and for custom
    fields the JSON field whose keys become more columns (`csv_json_field`). The table is the
    admin export's, lib.exports.table(): flat tuples read in chunks, never all held.

    Changes (`changes/?after=`): rows in the order the database changed them (lib.sync), for
    an incremental sync; the model has a `change_seq` set by the database.
    """

    csv_columns: Sequence[Column] = ()
    csv_json_field: str | None = None
    csv_filename = "export.csv"

    def get_renderers(self):
        found = super().get_renderers()
        if self.action in ("list", "csv"):
            found.append(CSVRenderer())
        return found

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != CSVRenderer.format:
            return super().list(request, *args, **kwargs)
        # The list's parameters are checked for its CSV too, though every row is sent.
        requested_page_size(request)
        self.paginator.decode_cursor(request)
        return self.csv_download()

    @action(detail=False, url_path="csv", pagination_class=None)
    def csv(self, request, *args, **kwargs):
        return self.csv_download()

    @action(detail=False, pagination_class=None, filter_backends=[])
    def changes(self, request, *args, **kwargs):
        return changes_answer(request, self.get_queryset(), self.get_serializer)

    def csv_download(self):
        queryset = self.filter_queryset(self.get_queryset()).order_by(*self.cursor_ordering)
        header, rows = self.csv_table(queryset)
        return csv_response(self.csv_filename, header, rows)

    def csv_table(self, queryset: QuerySet) -> tuple[Sequence[str], Iterator[Sequence]]:
        header, rows = table(queryset, self.csv_columns, self.csv_json_field)
        return header, rows.iso_times()

    def handle_exception(self, exc):
        # Errors (a bad filter, a missing token) are told in JSON, even to a CSV request.
        response = super().handle_exception(exc)
        if isinstance(getattr(self.request, "accepted_renderer", None), CSVRenderer):
            self.request.accepted_renderer = renderers.JSONRenderer()
            self.request.accepted_media_type = renderers.JSONRenderer.media_type
        return response


# One error shape, and a schema that declares every error


def flat_errors(data, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested validation errors as {"dotted.field": [messages]}."""
    if isinstance(data, dict):
        found = {}
        for name, value in data.items():
            found.update(flat_errors(value, f"{prefix}.{name}" if prefix else str(name)))
        return found
    if isinstance(data, list) and any(isinstance(item, dict | list) for item in data):
        found = {}
        for index, item in enumerate(data):
            found.update(flat_errors(item, f"{prefix}.{index}" if prefix else str(index)))
        return found
    messages = data if isinstance(data, list) else [data]
    key = prefix or api_settings.NON_FIELD_ERRORS_KEY
    return {key: [str(message) for message in messages]} if messages else {}


def error_body(exc: Exception, data) -> dict:
    if isinstance(exc, exceptions.ValidationError):
        errors = flat_errors(data)
        first = next(iter(errors.items()), None)
        detail = f"{first[0]}: {first[1][0]}" if first else "Invalid input."
        return {"detail": detail, "errors": errors}
    if isinstance(data, dict) and "detail" in data:
        return {"detail": str(data["detail"])}
    return {"detail": str(data)}


def exception_handler(exc, context):
    """DRF's handler, then every error body in the one shape ErrorSerializer describes.

    A body whose only fault is naming a row that does not exist (`"campaign": 99`) is a 404,
    as the same id in the path would be: which ids exist is the server's to know, not the
    schema's. The errors name the field.
    """
    response = drf_exception_handler(exc, context)
    if response is not None:
        if isinstance(exc, exceptions.ValidationError) and only_missing_rows(exc.get_codes()):
            response.status_code = 404
        response.data = error_body(exc, response.data)
    return response


def only_missing_rows(codes) -> bool:
    """True if every error code (nested as DRF nests them) is a related row not found."""
    if isinstance(codes, dict):
        codes = list(codes.values())
    if isinstance(codes, list):
        return bool(codes) and all(only_missing_rows(code) for code in codes)
    return codes == "does_not_exist"


# Query values that mean "no value": a filter given one is a mistake, not "no filter".
EMPTY_VALUES = ("", "null")


def check_query(query_params, allowed: Iterable[str]) -> None:
    """A 400 naming the allowed parameters for an unknown one, and for an empty value."""
    allowed = sorted(set(allowed))
    errors = {}
    for name in query_params:
        if name not in allowed:
            errors[name] = [f"Unknown query parameter. Allowed here: {', '.join(allowed)}."]
        elif any(value in EMPTY_VALUES for value in query_params.getlist(name)):
            errors[name] = ["Give a value, or leave the parameter out."]
    if errors:
        raise exceptions.ValidationError(errors)


class ContractSchema(AutoSchema):
    """drf-spectacular's schema, with the errors each operation can answer declared.

    400: every operation reads its query string (and body) strictly; 401/403: every endpoint
    with authentication needs a permitted user; 404: operations on one object; 409: a write
    that clashes with an existing row; 415: bodies are JSON only; 429: throttled endpoints.
    """

    def error_statuses(self) -> list[int]:
        statuses = [400]
        if self.view.get_authenticators():
            statuses += [401, 403]
        if "{" in self.path or self.pages() or self.refers_to_rows():
            statuses.append(404)
        if self.method in ("POST", "PUT", "PATCH"):
            statuses += [409, 415] if self.view.get_authenticators() else [415]
        if self.view.get_throttles():
            statuses.append(429)
        # What a view answers besides (e.g. a wrong password: 403).
        statuses += getattr(self.view, "extra_error_statuses", ())
        return sorted(set(statuses))

    def pages(self) -> bool:
        """A list paged by a cursor: one the server never gave names no page (404)."""
        return self.method == "GET" and bool(getattr(self.view, "pagination_class", None))

    def refers_to_rows(self) -> bool:
        """A body that names other rows by id: one that does not exist is a 404."""
        if self.method not in ("POST", "PUT", "PATCH"):
            return False
        serializer = self.get_request_serializer()
        fields = getattr(serializer, "fields", {})
        return any(isinstance(field, serializers.RelatedField) for field in fields.values())

    def _is_list_view(self, serializer=None) -> bool:
        # A feed (deletions/) answers one object holding its rows, not a bare list.
        if getattr(self.view, "is_feed", False):
            return False
        return super()._is_list_view(serializer)

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in map(str, self.error_statuses()):
            if status not in responses:
                responses[status] = self._get_response_for_code(
                    ErrorSerializer, status, ["application/json"], direction
                )
        return responses


# A query parameter's text: not empty, not "null" (EMPTY_VALUES), no NUL (refused by the
# filters). Text in a body: no NUL either (DRF's fields refuse it: PostgreSQL cannot store it).
QUERY_TEXT = r"^(?!null$)[^\u0000]+$"
BODY_TEXT = r"^[^\u0000]*$"
# What Python's str.strip() removes (str.isspace()), and so DRF's fields and Django's forms
# before they check for blank: Unicode's spaces, and U+001C to U+001F and U+0085 besides.
# Spelled out, not `\s`, which means a different set in each regex dialect.
STRIPPED = (
    r"\t\n\u000b\f\r\u001c-\u001f \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
)
# Text that may not be blank needs one character the strip keeps.
BODY_TEXT_NOT_BLANK = rf"^[^\u0000]*[^\u0000{STRIPPED}][^\u0000]*$"


def text_patterns(result, generator, request, public):
    """Schema postprocessing hook: free-text query parameters say what the server accepts,
    so a generated request is never refused for them."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                free_text = schema.get("type") == "string" and not (
                    {"format", "enum", "pattern"} & set(schema)
                )
                if parameter.get("in") == "query" and free_text:
                    schema["pattern"] = QUERY_TEXT
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if not name.endswith("Request"):
            continue
        for name, field in component.get("properties", {}).items():
            free_text = field.get("type") == "string" and not (
                {"format", "enum", "pattern"} & set(field)
            )
            if free_text and not field.get("readOnly"):
                # A password is taken as typed (DRF's token serializer does not strip it).
                blank_refused = field.get("minLength", 0) >= 1 and name != "password"
                field["pattern"] = BODY_TEXT_NOT_BLANK if blank_refused else BODY_TEXT
    return result
