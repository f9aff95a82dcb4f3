"""Webhook subscriptions in the integration API: an integration registers its own URL."""

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers

from lib.api import IntegrationViewSet
from lib.rest import StrictCharField, StrictModelSerializer
from webhooks.models import EventKind, Subscription

# Where events go: http(s), a host name or IPv4 address (labels of letters, digits and
# hyphens), an optional port, then a path, query and fragment in the characters RFC 3986
# allows there. The schema's pattern is the server's whole check, so a generated client meets
# no surprise; a host that does not resolve shows in the delivery log.
LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
URL_CHAR = r"(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})"
TARGET_URL_PATTERN = (
    rf"^https?://(?:{LABEL}\.)*{LABEL}(?::[0-9]{{1,5}})?"
    rf"(?:[/?]{URL_CHAR}*)?(?:#{URL_CHAR}*)?$"
)


@extend_schema_field(
    {"type": "string", "format": "uri", "maxLength": 500, "pattern": TARGET_URL_PATTERN}
)
class TargetURLField(StrictCharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=500, **kwargs)
        self.validators.append(
            RegexValidator(
                TARGET_URL_PATTERN, "An http:// or https:// URL, e.g. https://example.com/hooks."
            )
        )


class SubscriptionSerializer(StrictModelSerializer):
    """Where events go, which kinds, and the secret that signs them."""

    target_url = TargetURLField(help_text="Each event is POSTed here.")
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        allow_empty=False,
        min_length=1,
        help_text="The events to send to the URL.",
    )

    class Meta:
        model = Subscription
        fields = ("id", "target_url", "kinds", "secret", "enabled", "created_at")
        read_only_fields = ("secret", "created_at")
        extra_kwargs = {"secret": {"help_text": "Verify each event's webhook-signature with it."}}

    def validate_kinds(self, value: list[str]) -> list[str]:
        return sorted(set(value))


class SubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    IntegrationViewSet,
):
    """Where events go: each event a subscription's kinds name is POSTed to its URL as JSON,
    signed the Standard Webhooks way with its secret, retried with backoff until answered 2xx."""

    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer
    filterset_class = None
    cursor_ordering = ("-created_at", "-id")
