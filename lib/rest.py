"""How every endpoint of the integration API behaves: who may call it, how fast, how lists page,
how a list becomes a CSV download and how writes are validated. The endpoints themselves live
in each app's api.py.
"""

import copy
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

from lib.client import client_address
from lib.exports import Column, csv_response, table

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


class TimeCursorPagination(CursorPagination):
    """Pages by a cursor: stable while rows are inserted, and no COUNT(*).

    In the view's `cursor_ordering`, unique thanks to the id: newest first for what
    subscribers sent, by id where rows have no time of their own (poll choices).
    """

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = ("-received_at", "-id")

    def get_ordering(self, request, queryset, view) -> tuple[str, ...]:
        return tuple(getattr(view, "cursor_ordering", self.ordering))


class CSVRenderer(renderers.BaseRenderer):
    """Lets `?format=csv` through content negotiation; CSVListMixin streams the body itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        raise NotImplementedError("CSV lists are streamed by CSVListMixin.list()")


FORMAT_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` downloads every row that matches the filters as CSV, unpaginated.",
)


def csv_list_schema(serializer_class: type) -> dict:
    """extend_schema_view(**csv_list_schema(S)): the list's JSON pages and its CSV download."""
    return {
        "list": extend_schema(
            parameters=[FORMAT_PARAMETER],
            responses={
                (200, "application/json"): serializer_class(many=True),
                (200, "text/csv"): OpenApiTypes.STR,
            },
        )
    }


def iso_times(row: Iterable) -> tuple:
    """Times in ISO 8601 (2025-06-01T14:00:00+00:00): integrations parse the CSV too."""
    return tuple(value.isoformat() if isinstance(value, datetime) else value for value in row)


class CSVListMixin:
    """`?format=csv` on a list streams every filtered row, in the list's order, as CSV.

    The view declares `csv_columns`, (header, .values_list() path) pairs, and for custom
    fields the JSON field whose keys become more columns (`csv_json_field`). The table is
    the admin export's, lib.exports.table(): flat tuples read in chunks, never all held.
    """

    csv_columns: Sequence[Column] = ()
    csv_json_field: str | None = None
    csv_filename = "export.csv"

    def get_renderers(self):
        found = super().get_renderers()
        if self.action == "list":
            found.append(CSVRenderer())
        return found

    def list(self, request, *args, **kwargs):
        if request.accepted_renderer.format != CSVRenderer.format:
            return super().list(request, *args, **kwargs)
        queryset = self.filter_queryset(self.get_queryset()).order_by(*self.cursor_ordering)
        header, rows = self.csv_table(queryset)
        return csv_response(self.csv_filename, header, rows)

    def csv_table(self, queryset: QuerySet) -> tuple[Sequence[str], Iterator[Sequence]]:
        header, rows = table(queryset, self.csv_columns, self.csv_json_field)
        return header, map(iso_times, rows)

    def handle_exception(self, exc):
        # Errors (a bad filter, a missing token) are told in JSON, even to a CSV request.
        response = super().handle_exception(exc)
        if isinstance(getattr(self.request, "accepted_renderer", None), CSVRenderer):
            self.request.accepted_renderer = renderers.JSONRenderer()
            self.request.accepted_media_type = renderers.JSONRenderer.media_type
        return response


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
