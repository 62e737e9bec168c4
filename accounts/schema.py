"""OpenAPI description of API-key authentication (loaded by AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "Bearer"]
    match_subclasses = True

    def get_security_requirement(self, auto_schema):
        return [{"ApiKey": []}, {"Bearer": []}]  # either one

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "X-API-KEY"},
            {"type": "http", "scheme": "bearer"},
        ]
