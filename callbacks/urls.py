from django.urls import path, register_converter

from callbacks import views
from campaigns.models import Kind


class KindConverter:
    regex = "|".join(Kind.values)

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KindConverter, "kind")

app_name = "callbacks"
urlpatterns = [
    path("<slug:token>/<kind:kind>/", views.receive, name="receive"),
    # The platform calls the URL exactly as configured and does not follow redirects,
    # so the trailing slash is optional.
    path("<slug:token>/<kind:kind>", views.receive),
]
