"""What the SMS dialects share: calling the core, and dialect-specific error bodies."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework.response import Response

from softafrik.api import DomainError, exception_handler


def renamed_fields(mapping: dict[str, str]) -> Callable:
    """An exception handler that renames the core's field names (sender, number, text)
    to a dialect's own (emetteur, destinataire, corps) in 400/404 bodies."""

    def handler(exc, context):
        if isinstance(exc, DomainError) and exc.field in mapping:
            exc.field = mapping[exc.field]
        return exception_handler(exc, context)

    return handler


def error_response(status: int, body: dict) -> Response:
    return Response(body, status=status)
