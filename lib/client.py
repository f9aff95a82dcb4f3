"""Who is asking: the client's address, read the one way throttles, lockouts and the callback
log all use."""

from ipaddress import ip_address

from django.conf import settings


def client_address(request) -> str | None:
    """The address of the client that sent the request.

    REMOTE_ADDR, unless settings.TRUSTED_PROXY_COUNT proxies of ours stand in front: then the
    address the outermost of them saw, which is the Nth entry of X-Forwarded-For counted from
    the right (each proxy appends the address it was called from; anything further left was
    written by the client and may be a lie). A header with fewer entries than proxies, or an
    entry that is no address, falls back to REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < count:
        return remote
    try:
        return str(ip_address(hops[-count]))
    except ValueError:
        return remote
