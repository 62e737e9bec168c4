"""What an API key may do: the scope registry and the check every API view goes through.

A key without scopes has every right (every key issued before scopes existed keeps
working unchanged). A key with scopes may only call the views whose ``required_scope``
is one of them; a view that declares none needs a key with every right. So a key an
app ships in its binary, limited to ``deliveries:confirm``, can confirm deliveries and
do nothing else, whatever endpoints are added later.

A view declares ``required_scope = <scope>`` as a class attribute (one scope for all its
methods: "manage" scopes cover reading too); the default permission class
(``accounts.authentication.HasTenant``) calls ``scope_check``. The table of which call
needs which scope is in docs/api.md.
"""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework import exceptions, status

from softafrik.errors import DomainError

PUSH_SEND = "push:send"
SMS_SEND = "sms:send"
OMNI_SEND = "omni:send"
STATUSES_READ = "statuses:read"
DEVICES_MANAGE = "devices:manage"
INBOX_MANAGE = "inbox:manage"
DELIVERIES_CONFIRM = "deliveries:confirm"
SCENARIOS_MANAGE = "scenarios:manage"
BLACKLIST_MANAGE = "blacklist:manage"
WEBHOOKS_MANAGE = "webhooks:manage"
ACCOUNT_READ = "account:read"

# Scope name -> what it allows, as the admin, the command line, docs/api.md and the 403
# say it. Every API view of every dialect names one of these (or none: every right).
SCOPES: dict[str, str] = {
    PUSH_SEND: "send push messages (a push with an SMS fallback also needs sms:send)",
    SMS_SEND: "send and cancel SMS",
    OMNI_SEND: "send omni messages (a scenario: push, then SMS)",
    STATUSES_READ: "read messages, their statuses and statistics",
    DEVICES_MANAGE: "register and unregister end users and devices, read apps and devices",
    INBOX_MANAGE: "read end users' inboxes and mark messages read",
    DELIVERIES_CONFIRM: "confirm push deliveries (POST /api/push/delivered)",
    SCENARIOS_MANAGE: "list, create, change and delete omni scenarios",
    BLACKLIST_MANAGE: "read and change the unsubscribers (STOP) list",
    WEBHOOKS_MANAGE: "list, create and delete webhook endpoints",
    ACCOUNT_READ: "read the account, its balance, usage, ledger and prices",
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
    allowed = ", ".join(held)
    if required_scope is None:
        return f"This API key is limited to the scopes {allowed}; this call needs a key with every right."
    return f"This call needs the scope {required_scope}; this API key is limited to the scopes {allowed}."


def scope_check(*, key_scopes: Iterable[str], view) -> None:
    """Raise ScopeDenied unless a key with ``key_scopes`` may call ``view``."""
    refusal = scope_refusal(key_scopes=key_scopes, required_scope=getattr(view, "required_scope", None))
    if refusal is not None:
        raise ScopeDenied(refusal)


def scope_require(*, request, scope: str) -> None:
    """Raise ScopeDenied unless the request's key also holds ``scope``: for what a view
    does beyond its ``required_scope`` only on some input (a push with an SMS fallback).
    Called after validating the input and before acting on it."""
    refusal = scope_refusal(key_scopes=request.user.api_key.scopes, required_scope=scope)
    if refusal is not None:
        raise ScopeDenied(refusal)
