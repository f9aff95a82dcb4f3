"""Machine-to-machine URLs answered without the middleware a browser needs.

A callback from the SMS platform carries no session or CSRF cookie, no login, and reads no
message or framing header: sessions, CSRF, authentication, messages, static files, the
admin's login lockout and X-Frame-Options do nothing for it but cost every request. Placed
after SecurityMiddleware (HTTPS redirects and their exemptions, security headers still apply),
this middleware resolves the paths under settings.DIRECT_PATH_PREFIXES and calls their view
itself; every other request goes on down the stack. Errors are answered as Django answers
them (a 404 by the project's handler404, a 500 by its handler500).
"""

from django.conf import settings
from django.core.handlers.exception import convert_exception_to_response
from django.urls import get_resolver, get_urlconf


class DirectPathsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.prefixes = tuple(settings.DIRECT_PATH_PREFIXES)
        self.direct = convert_exception_to_response(self.call_view)

    def __call__(self, request):
        if not request.path_info.startswith(self.prefixes):
            return self.get_response(request)
        response = self.direct(request)
        if not response.streaming and not response.has_header("Content-Length"):
            # As CommonMiddleware does: a length, not a chunked answer, for the sender.
            response.headers["Content-Length"] = str(len(response.content))
        return response

    def call_view(self, request):
        match = get_resolver(get_urlconf()).resolve(request.path_info)
        request.resolver_match = match
        return match.func(request, *match.args, **match.kwargs)
