from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("callbacks/", include("callbacks.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("crm.api_urls")),
    # Log in and out of the browsable API (DRF's templates look for this namespace).
    path("api-auth/", include("rest_framework.urls")),
]
if settings.BENCH_VIEWS:
    urlpatterns.append(path("bench/", include("crm.bench_views")))
