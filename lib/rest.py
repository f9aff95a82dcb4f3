"""How every endpoint of the integration API is guarded and paged, as DRF's settings name
them: who may call it, how fast, how lists page; and how writes are validated. The endpoints'
shared building blocks (errors, strict query strings, CSV, changes feeds) are in lib.api.
"""

import copy
import re

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import exceptions, renderers, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from lib.client import client_address

# DRF reads this module while it loads its views (DEFAULT_PERMISSION_CLASSES): it may import
# no DRF view, so the view-side plumbing lives in lib.api.

VIEW_PERMISSION = ["%(app_label)s.view_%(model_name)s"]


class ModelPermissions(DjangoModelPermissions):
    """Django's model permissions, reads included: GET needs view_<model>.

    DRF's own class lets any authenticated user read everything.
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": VIEW_PERMISSION,
        "HEAD": VIEW_PERMISSION,
    }


class ClientAddressMixin:
    """Anonymous requests are counted per client address as lib.client reads it, never per
    an X-Forwarded-For that no trusted proxy wrote."""

    def get_ident(self, request) -> str:
        return client_address(request) or ""


class TokenRateThrottle(ClientAddressMixin, UserRateThrottle):
    """Requests per integration user, so per token: each integration has its own user.

    The rate is read from settings when a request comes, so tests and deployments can set it.
    Counted in the cache (settings.CACHES): per process by default, shared through Redis.
    """

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT


# DRF's cursors are standard base64 (of "o=1&r=0&p=..."); the links carry them URL-encoded.
CURSOR_PATTERN = r"^[A-Za-z0-9+/]+={0,2}$"
NO_PAGE = "No page at this cursor: pass the next or previous link's."


class TimeCursorPagination(CursorPagination):
    """Pages by a cursor: stable while rows are inserted, and no COUNT(*).

    In the view's `cursor_ordering`, unique thanks to the id: newest first for what
    subscribers sent, by id where rows have no time of their own (poll choices).
    A cursor or page size that is no such thing is a 400, never a silent default.
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-received_at", "-id")

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return tuple(getattr(view, "cursor_ordering", self.ordering))

    def get_page_size(self, request) -> int:
        return requested_page_size(request, self.page_size, self.max_page_size)

    def decode_cursor(self, request):
        # Not base64 at all: a 400, as the schema's pattern says. Base64 that is no cursor
        # this server gave names no page: a 404, as an id that does not exist would.
        text = request.query_params.get(self.cursor_query_param)
        if text is not None and not re.fullmatch(CURSOR_PATTERN, text):
            raise exceptions.ValidationError(
                {"cursor": ["Not a cursor: pass the next or previous link's."]}
            )
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.NotFound(NO_PAGE) from None

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except (ValueError, TypeError, DjangoValidationError):
            # A decodable cursor whose position is no value of the ordering's field.
            raise exceptions.NotFound(NO_PAGE) from None

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            if parameter["name"] == self.cursor_query_param:
                parameter["schema"].update(pattern=CURSOR_PATTERN)
                parameter["description"] = (
                    "The cursor of the `next` or `previous` link. One this server never gave "
                    "names no page: 404."
                )
        return parameters


def requested_page_size(request, default: int = 50, maximum: int = 1000) -> int:
    """`page_size` from the query: 1 to `maximum`, else a 400."""
    text = request.query_params.get("page_size")
    if text is None:
        return default
    try:
        size = int(text)
    except ValueError:
        size = 0
    if not 1 <= size <= maximum:
        raise exceptions.ValidationError({"page_size": [f"A whole number from 1 to {maximum}."]})
    return size


class CSVRenderer(renderers.BaseRenderer):
    """Lets CSV through content negotiation; lib.api streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        raise NotImplementedError("CSV lists are streamed by lib.api.IntegrationListMixin")


# JSON types as the schema declares them: DRF would read 5 as the text "5", "true" as true and
# "7" as 7, so a client's mistake would pass unseen.


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data):
        # JSON Schema's integer is any number without a fraction: 7.0 is 7.
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A reference by id: a whole number, never "5" or 5.5 (which the database would read
    as 5)."""

    def to_internal_value(self, data):
        if isinstance(data, float) and data.is_integer():
            data = int(data)
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("incorrect_type", data_type=type(data).__name__)
        return super().to_internal_value(data)


class StrictModelSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose text, whole-number and yes/no fields take JSON of that type."""

    serializer_related_field = StrictPrimaryKeyRelatedField

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.IntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.BooleanField: StrictBooleanField,
    }


class Conflict(exceptions.ValidationError):
    """A valid request that clashes with a row that exists (a keyword taken on the short code):
    409, with the messages of a 400."""

    status_code = 409
    default_detail = "Conflicts with an existing row."
    default_code = "conflict"


def validate_model(instance: models.Model) -> None:
    """Run the model's own field validation, as the admin's forms do: a 400.

    So the API can't accept what the admin would refuse. A serializer's validate() calls it;
    check_conflicts() follows when it saves.
    """
    try:
        instance.full_clean(validate_unique=False, validate_constraints=False)
    except DjangoValidationError as e:
        raise serializers.ValidationError(serializer_errors(e)) from None


def check_conflicts(instance: models.Model) -> None:
    """The model's unique fields and constraints, as the admin checks them: a duplicate (a
    keyword on a short code, in any case) is a 409, never an IntegrityError.

    Called when saving, not from validate(): DRF turns every error raised there into a 400.
    """
    try:
        instance.clean()  # what the model derives from its fields (e.g. a keyword's key)
        instance.validate_unique()
        instance.validate_constraints()
    except DjangoValidationError as e:
        raise Conflict(serializer_errors(e)) from None


def serializer_errors(error: DjangoValidationError) -> dict:
    errors = serializers.as_serializer_error(error)
    if "__all__" in errors:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop("__all__")
    return errors


def with_changes(instance: models.Model | None, model: type, attrs: dict) -> models.Model:
    """A copy of the instance (or a new one) with the validated changes, for validate_model."""
    candidate = copy.copy(instance) if instance else model()
    for name, value in attrs.items():
        setattr(candidate, name, value)
    return candidate
