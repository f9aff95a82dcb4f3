from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from crm.api_urls import moved_to_v1

handler404 = "crm.api_urls.not_found"

urlpatterns = [
    path("callbacks/", include("callbacks.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("crm.api_urls")),
    # The first release's unversioned paths, until the next release (README, API).
    re_path(r"^api/(?!v1/)(?P<rest>.*)$", moved_to_v1),
    # Log in and out of the browsable API (DRF's templates look for this namespace).
    path("api-auth/", include("rest_framework.urls")),
]
if settings.BENCH_VIEWS:
    urlpatterns.append(path("bench/", include("crm.bench_views")))
