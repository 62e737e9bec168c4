"""What the API dialects share: validating input, renaming the core's fields, error bodies."""

from __future__ import annotations

from collections.abc import Callable

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from softafrik.api import exception_handler
from softafrik.errors import DomainError


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


SUCCESS = inline_serializer("Success", {"success": serializers.BooleanField()})


def valid_input(serializer_class, request, *, data=None) -> dict:
    """The request's data (or ``data``) validated by ``serializer_class``; a 400 naming
    the field otherwise."""
    serializer = serializer_class(data=request.data if data is None else data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
