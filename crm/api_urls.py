"""The integration API under /api/: the endpoints, a token for curl, the schema and its docs."""

from django.contrib.auth.decorators import login_required
from django.urls import include, path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from callbacks.api import CallbackEventViewSet
from campaigns.api import (
    CampaignViewSet,
    FormSubmissionViewSet,
    InfoRequestViewSet,
    PollChoiceViewSet,
    PollResponseViewSet,
)
from lib.logins import PasswordTokenView
from subscribers.api import SubscriberViewSet

app_name = "api"

router = DefaultRouter()
router.register("subscribers", SubscriberViewSet)
router.register("campaigns", CampaignViewSet)
router.register("poll-choices", PollChoiceViewSet)
router.register("poll-responses", PollResponseViewSet)
router.register("info-requests", InfoRequestViewSet)
router.register("form-submissions", FormSubmissionViewSet)
router.register("callbacks", CallbackEventViewSet)


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"  # without the package's Google Fonts

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # Redoc shows its maker's logo from a CDN: tell the browser not to fetch it.
        response["Content-Security-Policy"] = "img-src 'self' data:"
        return response


def docs_page(view):
    # People read the docs in a browser: send them to log in rather than answer 403.
    return login_required(view, login_url="admin:login")


urlpatterns = [
    path("token/", PasswordTokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path(
        "redoc/",
        docs_page(RedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
    path("", include(router.urls)),
]
