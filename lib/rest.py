"""How every endpoint of the integration API is guarded and paged, as DRF's settings name
them: who may call it, how fast, how lists page; and how writes are validated. The endpoints'
shared building blocks (errors, strict query strings, CSV, changes feeds) are in lib.api.
"""

import copy

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from rest_framework import exceptions, renderers, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

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


class TokenRateThrottle(UserRateThrottle):
    """Requests per integration user, so per token: each integration has its own user.

    The rate is read from settings when a request comes, so tests and deployments can set it.
    """

    def get_rate(self) -> str:
        return settings.API_RATE_LIMIT


class PasswordRateThrottle(AnonRateThrottle):
    """Token requests per client address: a password guesser gets a few tries a minute.

    Like every throttle here it counts in the process's cache, so per gunicorn worker.
    """

    def get_rate(self) -> str:
        return "10/min"


class TimeCursorPagination(CursorPagination):
    """Newest first, by a cursor: stable while rows are inserted, and no COUNT(*).

    A view sets `cursor_ordering`, led by an indexed timestamp and made unique by the id.
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
        try:
            return super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError(
                {"cursor": ["Not a cursor this server gave: use the next or previous link."]}
            ) from None

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
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


def validate_model(instance: models.Model) -> None:
    """Run the model's own validation, constraints included, as the admin's forms do.

    So a duplicate keyword on a short code, in any case, is a 400 here, never an
    IntegrityError, and the API can't accept what the admin would refuse.
    """
    try:
        instance.full_clean()
    except DjangoValidationError as e:
        errors = serializers.as_serializer_error(e)
        if "__all__" in errors:
            errors[api_settings.NON_FIELD_ERRORS_KEY] = errors.pop("__all__")
        raise serializers.ValidationError(errors) from None


def with_changes(instance: models.Model | None, model: type, attrs: dict) -> models.Model:
    """A copy of the instance (or a new one) with the validated changes, for validate_model."""
    candidate = copy.copy(instance) if instance else model()
    for name, value in attrs.items():
        setattr(candidate, name, value)
    return candidate
