from django.contrib import admin, messages

from webhooks.delivery import redeliver
from webhooks.models import Delivery, Subscription


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = ("target_url", "kinds", "enabled", "created_at")
    list_filter = ("enabled",)
    readonly_fields = ("created_at",)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    """The delivery log, per target: what was sent, how often, what the receiver answered."""

    list_display = (
        "message_id",
        "subscription",
        "kind",
        "attempts",
        "last_status",
        "delivered_at",
        "next_attempt_at",
    )
    list_filter = ("subscription", "kind")
    list_select_related = ("subscription",)
    readonly_fields = (
        "subscription",
        "message_id",
        "kind",
        "body",
        "created_at",
        "attempts",
        "last_status",
        "last_error",
        "delivered_at",
        "next_attempt_at",
    )
    actions = ("redeliver_selected",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Redeliver selected deliveries", permissions=["change"])
    def redeliver_selected(self, request, queryset):
        count = redeliver(queryset)
        self.message_user(request, f"{count} deliveries will be sent again.", messages.SUCCESS)
