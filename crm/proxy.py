"""The client's address and scheme as the configured reverse proxies report them.

TRUSTED_PROXY_COUNT is the one place that decides whether X-Forwarded-For and
X-Forwarded-Proto are believed: without a trusted proxy they are whatever the client wrote,
so they are dropped before anything (Django's HTTPS check, DRF's throttles) reads them.
"""

import ipaddress

from django.conf import settings


def client_address(meta: dict, trusted_proxies: int) -> str:
    """REMOTE_ADDR, or the address the outermost trusted proxy saw, from X-Forwarded-For.

    Each proxy appends the address it was called from, so with N trusted proxies the client
    is the N-th entry from the right; whatever stands left of it the client wrote itself.
    """
    remote = meta.get("REMOTE_ADDR", "")
    if trusted_proxies <= 0:
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if len(hops) < trusted_proxies:
        return remote  # the request came round a proxy: keep the one address we know
    candidate = hops[-trusted_proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


class TrustedProxyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.trusted_proxies = settings.TRUSTED_PROXY_COUNT

    def __call__(self, request):
        if not self.trusted_proxies:
            request.META.pop("HTTP_X_FORWARDED_FOR", None)
            request.META.pop("HTTP_X_FORWARDED_PROTO", None)
        request.META["REMOTE_ADDR"] = client_address(request.META, self.trusted_proxies)
        return self.get_response(request)
