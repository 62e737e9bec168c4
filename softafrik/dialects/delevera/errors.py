"""Delevera's error body, shared by its push, SMS and omni products:
``{"code": <HTTP status>, "message": ..., "field": ...}`` for 400, 401, 404 and 405, with
the core's field names renamed to the product's own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import ClassVar

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.utils.mediatypes import media_type_matches
from rest_framework.views import APIView

from softafrik.api import UnknownPathView
from softafrik.dialects.common import renamed_fields


def delevera_errors(fields: Mapping[str, str] | None = None) -> Callable:
    """An exception handler answering Delevera's body, the core's field names renamed by ``fields``."""
    renamed = renamed_fields(dict(fields or {}))

    def handler(exc, context):
        response = renamed(exc, context)
        if response is None:
            return None
        data = response.data if isinstance(response.data, dict) else {}
        body = {"code": response.status_code, "message": data.get("message") or response.status_text}
        if data.get("field"):
            body["field"] = data["field"]
        response.data = body
        return response

    return handler


def delevera_date(value: datetime) -> str:
    """A date as Delevera writes it: UTC, milliseconds, ``Z`` ("2019-03-18T14:05:01.451Z")."""
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


class DeleveraNegotiation(DefaultContentNegotiation):
    """Delevera's own examples send ``Content-Type: application/json,application/json``
    (a list, which no parser matches: a 415). A list is read as its first type a parser
    takes, so that a client copying the document's example is understood."""

    def select_parser(self, request, parsers):
        parser = super().select_parser(request, parsers)
        content_type = request.content_type or ""
        if parser is not None or "," not in content_type or len(content_type) > self.max_media_type_length:
            return parser
        for media_type in content_type.split(","):
            for candidate in parsers:
                if media_type.strip() and media_type_matches(candidate.media_type, media_type.strip()):
                    return candidate
        return None


# A view of a Delevera product; ``field_names`` maps the core's names to the product's. (A
# comment: drf-spectacular publishes the nearest docstring up a view's classes as the
# description of each endpoint that has none of its own.)
class DeleveraView(APIView):
    field_names: ClassVar[dict[str, str]] = {}
    content_negotiation_class = DeleveraNegotiation
    _handler: ClassVar[Callable] = delevera_errors()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._handler = delevera_errors(cls.field_names)

    def get_exception_handler(self):
        return type(self)._handler


# Any other path under /SMS/, /push/ or /omni/: the document's 404.
unknown_path = UnknownPathView.as_view(
    error_handler=delevera_errors(),
    message="No such action, please make sure that there is no typo in URL path.",
)
