"""Startup check: the public key every other service verifies with matches our signing key."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def jwt_keys_match(app_configs, **kwargs):
    from users.tokens import public_key_pem

    try:
        derived = public_key_pem().strip()
    except (ValueError, TypeError) as exc:
        return [Error(f"The JWT private key cannot be loaded: {exc}", id="users.E001")]
    published = (settings.SIMPLE_JWT.get("VERIFYING_KEY") or "").strip()
    if published and published != derived:
        return [
            Error(
                "JWT_PUBLIC_KEY(_PATH) does not belong to JWT_PRIVATE_KEY(_PATH): tokens issued here would "
                "fail verification in every other service.",
                id="users.E002",
            )
        ]
    return []
