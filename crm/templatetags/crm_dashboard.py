from django import template

from crm.dashboard import dashboard

register = template.Library()


@register.inclusion_tag("admin/dashboard.html")
def admin_dashboard() -> dict:
    return dashboard()
