"""Stripe-style signatures of webhook bodies: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of
"<t>.<raw body>">``. The verifying side is in docs/api.md, "Webhooks"."""

import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"


def webhook_secret_generate() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature_header(*, secret: str, body: bytes, timestamp: int) -> str:
    signed = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
