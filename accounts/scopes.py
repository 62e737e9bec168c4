"""What an API key may do: the scope registry and the check every API view goes through.

A key without scopes has every right (every key issued before scopes existed keeps
working unchanged). A key with scopes may only call the views whose ``required_scope``
is one of them; a view that declares none needs a key with every right. So a key an
app ships in its binary, limited to ``deliveries:confirm``, can confirm deliveries and
do nothing else, whatever endpoints are added later.

A view declares ``required_scope = "<scope>"`` as a class attribute; the default
permission class (``accounts.authentication.HasTenant``) calls ``scope_check``.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions, status

from softafrik.errors import DomainError

DELIVERIES_CONFIRM = "deliveries:confirm"

# Scope name -> what it allows, as the admin, the command line and the 403 say it.
SCOPES: dict[str, str] = {
    DELIVERIES_CONFIRM: "confirm push deliveries (POST /api/push/delivered)",
}


class UnknownScope(ValueError):
    """``str(exc)`` names the unknown scope and the known ones."""


class ScopeDenied(DomainError, exceptions.PermissionDenied):
    """A 403: the key's scopes do not cover the view.

    A DomainError, so every dialect's exception handler shapes it with its message (the
    core handler answers a bare PermissionDenied with a fixed text, and the message is
    what tells the caller which scope it lacks); a PermissionDenied for anything that
    asks DRF's way."""

    status_code = status.HTTP_403_FORBIDDEN
    code = "forbidden"


def scopes_validate(scopes: Iterable[str]) -> list[str]:
    """``scopes`` without duplicates, in the registry's order; raises UnknownScope."""
    given = list(scopes)
    unknown = [scope for scope in given if scope not in SCOPES]
    if unknown:
        raise UnknownScope(f"Unknown scope {unknown[0]!r}; known scopes: {', '.join(SCOPES)}.")
    return [scope for scope in SCOPES if scope in given]


def scope_refusal(*, key_scopes: Iterable[str], required_scope: str | None) -> str | None:
    """Why a key with ``key_scopes`` may not call a view needing ``required_scope``
    (None: every right), or None when it may."""
    held = list(key_scopes)
    if not held or (required_scope is not None and required_scope in held):
        return None
    allowed = "; ".join(f"{scope}: {SCOPES.get(scope, scope)}" for scope in held)
    if required_scope is None:
        return f"This API key is limited to scopes ({allowed}); this call needs a key with every right."
    return f"This call needs the scope {required_scope}; this API key is limited to scopes ({allowed})."


def scope_check(*, key_scopes: Iterable[str], view) -> None:
    """Raise ScopeDenied unless a key with ``key_scopes`` may call ``view``."""
    refusal = scope_refusal(key_scopes=key_scopes, required_scope=getattr(view, "required_scope", None))
    if refusal is not None:
        raise ScopeDenied(refusal)
