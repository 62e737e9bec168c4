"""API authentication: ``X-API-KEY: <key>`` (any case) or ``Authorization: Bearer <key>``.

``request.user`` becomes the tenant's ``ApiClient``; ``request.auth`` the ApiKey row.
``HasTenant``, every view's default permission, also holds the key to its scopes
(``accounts.scopes``).
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiKey, Tenant
from accounts.scopes import scope_check
from accounts.selectors import api_key_authenticate


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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    header_names: tuple[str, ...] = ("X-API-KEY",)

    def authenticate(self, request):
        plaintext = key_from_request(request, header_names=self.header_names)
        if plaintext is None:
            return None  # DRF then answers 401 NotAuthenticated for protected views
        api_key = api_key_authenticate(plaintext=plaintext)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        return ApiClient(tenant=api_key.tenant, api_key=api_key), api_key

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
