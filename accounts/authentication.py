"""API authentication: ``X-API-KEY: <key>`` (any case) or ``Authorization: Bearer <key>``.

``request.user`` becomes the tenant's ``ApiClient``; ``request.auth`` the ApiKey row.
Authenticating a key also holds it, before the view does anything, to its networks (a
403 naming the client address, ``accounts.networks``) and then to its rate limits (a 429
with Retry-After, ``accounts.ratelimit``): every call with a valid key counts, refused
ones included. ``HasTenant``, every view's default permission, then holds the key to its
scopes (``accounts.scopes``). Each refusal is a DomainError, shaped by the view's dialect.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions, status

from accounts.models import ApiKey, Tenant
from accounts.networks import network_check
from accounts.ratelimit import rate_admit
from accounts.scopes import scope_check
from accounts.selectors import api_key_authenticate
from softafrik.errors import DomainError


class RateLimited(DomainError, exceptions.APIException):
    """A 429: the key is over one of its rate limits; ``retry_after`` seconds until it
    is not (the Retry-After header, which softafrik.api's handler sets)."""

    status_code = status.HTTP_429_TOO_MANY_REQUESTS
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ApiClient:
    """The caller behind an API key; truthy ``is_authenticated`` for DRF."""

    tenant: Tenant
    api_key: ApiKey
    is_authenticated: bool = True


def key_from_request(request, *, header_names: tuple[str, ...] = ("X-API-KEY",)) -> str | None:
    for name in header_names:
        value = request.headers.get(name)  # Django's headers mapping is case-insensitive
        if value:
            return value.strip()
    auth = request.headers.get("Authorization", "")
    scheme, _, credentials = auth.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def api_client_admit(*, plaintext: str, request) -> tuple[ApiClient, ApiKey]:
    """The caller behind ``plaintext``, as DRF's ``authenticate`` returns it; raises
    AuthenticationFailed (401), NetworkDenied (403) or RateLimited (429)."""
    api_key = api_key_authenticate(plaintext=plaintext)
    if api_key is None:
        raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
    network_check(allowed_networks=api_key.allowed_networks, request=request)
    refusal = rate_admit(api_key=api_key)
    if refusal is not None:
        raise RateLimited(
            f"Rate limit exceeded: this API key may make {refusal.limit} "
            f"request{'' if refusal.limit == 1 else 's'} a {refusal.window}; "
            f"retry after {refusal.retry_after} s.",
            retry_after=refusal.retry_after,
        )
    return ApiClient(tenant=api_key.tenant, api_key=api_key), api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    header_names: tuple[str, ...] = ("X-API-KEY",)

    def authenticate(self, request):
        plaintext = key_from_request(request, header_names=self.header_names)
        if plaintext is None:
            return None  # DRF then answers 401 NotAuthenticated for protected views
        return api_client_admit(plaintext=plaintext, request=request)

    def authenticate_header(self, request):
        return 'Bearer realm="api"'


class HasTenant(permissions.BasePermission):
    """A tenant's key, whose scopes cover the view's ``required_scope``: otherwise a 403
    naming the scope, in the view's own dialect (raised, not returned, so the message
    says which scope)."""

    def has_permission(self, request, view):
        if not isinstance(request.user, ApiClient):
            return False
        scope_check(key_scopes=request.user.api_key.scopes, view=view)
        return True
