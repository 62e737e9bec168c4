"""Domain errors: a business rule refused what was asked. Services raise them; the API's
one exception handler (``softafrik.api.exception_handler``) maps them to a response, the
admin and the commands to a message."""

from __future__ import annotations

from rest_framework import status


class DomainError(Exception):
    """A business rule refused the request (unapproved sender, insufficient balance...).

    Services raise it; the API maps it to ``status_code`` with ``code`` and ``field``.
    """

    status_code = status.HTTP_400_BAD_REQUEST
    code = "rejected"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code:
            self.code = code


class NotFound(DomainError):
    status_code = status.HTTP_404_NOT_FOUND
    code = "not_found"
