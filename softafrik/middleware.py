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
