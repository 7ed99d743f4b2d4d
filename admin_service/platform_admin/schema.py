"""OpenAPI description of the admin token (imported by authentication.py so it registers)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AdminJWTScheme(OpenApiAuthenticationExtension):
    target_class = "platform_admin.authentication.AdminJWTAuthentication"
    name = "adminToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "Admin access token from POST /api/v1/admin/login/ (audience notification-admin).",
        }
