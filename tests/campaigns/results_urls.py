"""The product's URLs plus the poll results page, until campaigns/admin.py registers it.

Once CampaignAdmin.get_urls() adds `admin:campaigns_campaign_results`, this module and the
`@pytest.mark.urls` markers that use it can go.
"""

from django.contrib import admin
from django.urls import path

from campaigns.admin_views import poll_results_view
from campaigns.models import Campaign
from crm.urls import urlpatterns as product_urls

if not admin.site.is_registered(Campaign):
    admin.site.register(Campaign)

results_url = path(
    "campaigns/campaign/<path:object_id>/results/",
    admin.site.admin_view(poll_results_view),
    name="campaigns_campaign_results",
)
# Inside the admin's namespace, as CampaignAdmin.get_urls() will put it.
urlpatterns = [
    path("admin/", ([results_url, *admin.site.get_urls()], "admin", admin.site.name)),
    *(pattern for pattern in product_urls if str(pattern.pattern) != "admin/"),
]
