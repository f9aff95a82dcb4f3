"""Webhook subscriptions in the integration API: an integration registers its own URL."""

from rest_framework import mixins, serializers

from lib.api import IntegrationViewSet
from lib.rest import StrictModelSerializer
from webhooks.models import EventKind, Subscription


class SubscriptionSerializer(StrictModelSerializer):
    kinds = serializers.ListField(
        child=serializers.ChoiceField(choices=EventKind.choices),
        allow_empty=False,
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
