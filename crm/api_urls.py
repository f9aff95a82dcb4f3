"""The integration API under /api/v1/: the endpoints, a token for curl, the schema and its
docs; and the unversioned paths of the first release, redirected."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import page_not_found
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
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
from subscribers.api import CustomFieldViewSet, DeletionViewSet, SubscriberViewSet
from webhooks.api import SubscriptionViewSet

app_name = "api"

router = DefaultRouter()
router.register("subscribers", SubscriberViewSet)
router.register("campaigns", CampaignViewSet)
router.register("poll-choices", PollChoiceViewSet)
router.register("poll-responses", PollResponseViewSet)
router.register("info-requests", InfoRequestViewSet)
router.register("form-submissions", FormSubmissionViewSet)
router.register("callbacks", CallbackEventViewSet)
router.register("custom-fields", CustomFieldViewSet, basename="custom-field")
router.register("deletions", DeletionViewSet)
router.register("webhooks", SubscriptionViewSet)


class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"  # without the package's Google Fonts

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # Redoc shows its maker's logo from a CDN: tell the browser not to fetch it.
        response["Content-Security-Policy"] = "img-src 'self' data:"
        return response


class TokenView(PasswordTokenView):
    """A user's token for their username and password, as JSON like every other body."""

    parser_classes = [JSONParser]
    renderer_classes = [JSONRenderer]
    authentication_classes = []


class PermanentRedirect(HttpResponseRedirect):
    # 308: clients repeat the same method and body at the new address (301 may turn a POST
    # into a GET).
    status_code = 308


@csrf_exempt  # integrations send no CSRF token, and a redirect changes nothing
def moved_to_v1(request: HttpRequest, rest: str) -> PermanentRedirect:
    """/api/<rest> of the first release -> /api/v1/<rest>, query string kept. Kept for one
    release, so integrations have time to change their base URL."""
    query = request.META.get("QUERY_STRING", "")
    return PermanentRedirect(f"/api/v1/{rest}" + (f"?{query}" if query else ""))


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The site's 404 (handler404): under /api/ in the API's error shape, as JSON, for a path
    no route matches (e.g. /api/v1/campaigns/1.5/); elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def docs_page(view):
    # People read the docs in a browser: send them to log in rather than answer 403.
    return login_required(view, login_url="admin:login")


urlpatterns = [
    path("token/", TokenView.as_view(), name="token"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", docs_page(SpectacularSwaggerView.as_view(url_name="api:schema")), name="docs"),
    path(
        "redoc/",
        docs_page(RedocView.as_view(url_name="api:schema")),
        name="redoc",
    ),
    path("", include(router.urls)),
]
