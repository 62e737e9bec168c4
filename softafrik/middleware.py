"""Middleware that only the browser side (admin, docs) needs, skipped for API calls.

API requests authenticate with a key, carry no cookies and render no templates:
sessions, CSRF, the auth user, flash messages and frame options do nothing for them
but cost CPU on every call, the hottest path of the platform. ``BrowserOnly`` runs
a list of such middleware (``BROWSER_MIDDLEWARE``, in order) around every request
except those under ``API_PATH_PREFIXES``, which go straight on.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.middleware.locale import LocaleMiddleware as DjangoLocaleMiddleware
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.module_loading import import_string


def is_api_path(path: str) -> bool:
    return path.startswith(settings.API_PATH_PREFIXES)


class BrowserOnly:
    def __init__(self, get_response) -> None:
        self.get_response = get_response
        handler = get_response
        self.view_hooks = []
        for dotted in reversed(settings.BROWSER_MIDDLEWARE):
            middleware = import_string(dotted)(handler)
            if hasattr(middleware, "process_exception") or hasattr(middleware, "process_template_response"):
                raise ImproperlyConfigured(f"{dotted}: BrowserOnly forwards process_view hooks only")
            if hasattr(middleware, "process_view"):
                self.view_hooks.insert(0, middleware.process_view)
            handler = middleware
        self.browser_chain = handler

    def __call__(self, request):
        if is_api_path(request.path_info):
            return self.get_response(request)
        return self.browser_chain(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if is_api_path(request.path_info):
            return None
        for hook in self.view_hooks:
            response = hook(request, view_func, view_args, view_kwargs)
            if response is not None:
                return response
        return None


class LocaleMiddleware(DjangoLocaleMiddleware):
    """Django's locale middleware for the browser pages (site and admin), with two changes.

    A visitor who has not chosen a language (no valid language cookie: the switch posts
    to ``set_language``, which sets it) gets ``SITE_LANGUAGE_CODE`` (French), not the
    browser's Accept-Language nor ``LANGUAGE_CODE``, which stays English for the API's
    messages. And the language is deactivated once the response is made: Django's
    activation is per thread, and the thread's next request may be an API call, which
    skips this middleware and must be in ``LANGUAGE_CODE`` again.
    """

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        try:
            language = translation.get_supported_language_variant(chosen or settings.SITE_LANGUAGE_CODE)
        except LookupError:
            language = translation.get_supported_language_variant(settings.SITE_LANGUAGE_CODE)
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()

    def process_response(self, request, response):
        response = super().process_response(request, response)
        patch_vary_headers(response, ("Cookie",))
        translation.deactivate()
        return response
