"""What every SoftAfrik API view shares: the one exception handler that turns errors into
JSON (400 naming the field, 401, 404, never a 500 for bad input), and the unknown-path view.
Domain errors themselves are in ``softafrik.errors``."""

from __future__ import annotations

import copy
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpResponsePermanentRedirect
from django.urls import Resolver404, resolve
from rest_framework import exceptions, serializers
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from softafrik.errors import DomainError, NotFound

logger = logging.getLogger(__name__)


class FlatSerializer(serializers.Serializer):
    """An input serializer for the hottest endpoints, built per request from shallow copies
    of its declared fields.

    DRF deep-copies every declared field for every serializer instance (re-running each
    field's constructor), about 40% of validating a push. A shallow copy is enough for
    fields without children: binding only sets attributes on the copy, and the shared
    validators and messages are never mutated. Fields with children (nested serializers,
    list and dict fields) still get DRF's deep copy.
    """

    def get_fields(self):
        return {
            name: copy.deepcopy(field)
            if isinstance(field, serializers.BaseSerializer) or hasattr(field, "child")
            else copy.copy(field)
            for name, field in self._declared_fields.items()
        }


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """{"a": {"b": ["x"]}} -> {"a.b": ["x"]}; lists of dicts get their index."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":  # a nested object's own errors name the object
                name = prefix or "non_field_errors"
            out.update(_flatten(value, name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            if item:
                out.update(_flatten(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "non_field_errors": [str(detail)]}


def error_body(code: str, message: str, *, field: str | None = None, fields: dict | None = None) -> dict:
    body: dict = {"error": code, "message": message}
    if field:
        body["field"] = field
    if fields:
        body["fields"] = fields
    return body


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        fields = {exc.field: [exc.message]} if exc.field else None
        response = Response(error_body(exc.code, exc.message, field=exc.field, fields=fields), status=exc.status_code)
        if getattr(exc, "retry_after", None):  # a 429 (accounts.authentication.RateLimited)
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields))
        message = f"{first}: {fields[first][0]}"
        return Response(error_body("invalid", message, field=first, fields=fields), status=400)
    if isinstance(exc, exceptions.ParseError):
        return Response(error_body("invalid_json", f"body: {exc.detail}", field="body"), status=400)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        response = Response(error_body("unauthorized", str(exc.detail)), status=401)
        response["WWW-Authenticate"] = 'Bearer realm="api"'
        return response
    if isinstance(exc, Http404 | exceptions.NotFound):
        return Response(error_body("not_found", "Not found."), status=404)
    if isinstance(exc, PermissionDenied | exceptions.PermissionDenied):
        return Response(error_body("forbidden", "You do not have permission to do this."), status=403)
    if isinstance(exc, OperationalError | InterfaceError):  # the database is down or restarting
        logger.error("database unavailable: %s", exc, exc_info=exc)
        response = Response(error_body("unavailable", "Service temporarily unavailable, retry."), status=503)
        response["Retry-After"] = "5"
        return response
    if isinstance(exc, exceptions.APIException):
        return Response(error_body(exc.default_code, str(exc.detail)), status=exc.status_code)
    return None


# --- Paths and methods no route takes ------------------------------------------------------


class UnknownPathView(APIView):
    """Any method on a path no route matched, under an API dialect's prefix: a 404 in that
    dialect's error body (``error_handler``, ``message``), never Django's HTML page. Routed
    last, by prefix (softafrik/urls.py). Needs no key: the routes are public documentation.

    A GET that only lacks its trailing slash is still redirected (what APPEND_SLASH did
    before this caught every path)."""

    authentication_classes: list = []
    permission_classes: list = []
    renderer_classes = [JSONRenderer]
    schema = None  # not an endpoint of the OpenAPI schema
    error_handler = staticmethod(exception_handler)
    message = "No such path."

    def get_exception_handler(self):
        return self.error_handler

    @property
    def default_response_headers(self):
        return {}  # no "Allow": there is nothing here to allow

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        raise NotFound(self.message)

    def dispatch(self, request, *args, **kwargs):
        if request.method in ("GET", "HEAD") and self._has_a_slashed_route(request.path_info):
            return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
        return super().dispatch(request, *args, **kwargs)

    @staticmethod
    def _has_a_slashed_route(path: str) -> bool:
        if not settings.APPEND_SLASH or path.endswith("/"):
            return False
        try:
            match = resolve(path + "/")
        except Resolver404:
            return False
        view_class = getattr(match.func, "view_class", None)
        return not (view_class and issubclass(view_class, UnknownPathView))


class JsonErrors:
    """For a view that renders HTML or YAML (the API docs, the schema): its errors (a wrong
    method...) still answer JSON."""

    def handle_exception(self, exc):
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)


def json_errors(view_class: type) -> type:
    """``view_class`` whose errors answer JSON (see JsonErrors)."""
    return type(view_class.__name__, (JsonErrors, view_class), {})
