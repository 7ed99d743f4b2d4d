"""API keys with a short in-process memory of valid verdicts, for a service that opts in.

Each request with ``X-API-Key`` pays a Redis read and a JSON decode of the shared verdict
(``api_keys.verify_api_key``) to learn what the same worker learnt a moment ago; on the
gateway's intake path that was about 6 % of an accepted notification's CPU. A service
that sets ``API_KEY_LOCAL_CACHE_SECONDS`` (a Django setting; absent or 0: off) and lists
``RememberingApiKeyAuthentication`` instead of ``authentication.ApiKeyAuthentication`` keeps a
valid verdict in the worker's memory that long: a revoked key or a changed scope takes effect
there within that bound, on top of the shared verdict's own rules (docs/api_gateway.md,
"Cost of the intake path"; docs/user_service.md). A key's ``expires_at`` is still checked on every request, and
refusals are never remembered: an unknown or revoked key always takes the shared path, with its
failed-lookup limit. Only the key's digest stays in memory.
"""

import hashlib
import time
from dataclasses import dataclass

from django.conf import settings

from notification_common.api_keys import ApiKeyInfo
from notification_common.authentication import ApiKeyAuthentication, ApiKeyPrincipal
from notification_common.http_client import API_KEY_HEADER
from notification_common.lru import LocalLRU
from notification_common.schema import ApiKeyScheme

# Valid keys only, so made-up keys cannot grow it; a few senders' keys are the usual content.
MAX_REMEMBERED_KEYS = 1024


@dataclass(frozen=True)
class _Verdict:
    info: ApiKeyInfo
    until: float  # the monotonic clock's time after which the shared verdict is read again


_verdicts = LocalLRU(MAX_REMEMBERED_KEYS)
_clock = time.monotonic  # the tests move it forward instead of waiting


def forget_remembered_verdicts() -> None:
    """Drop every remembered verdict (tests; a process that must see a revocation at once)."""
    _verdicts.clear()


def remembered_verdict_count() -> int:
    return len(_verdicts)


class RememberingApiKeyAuthentication(ApiKeyAuthentication):
    """``ApiKeyAuthentication`` that remembers a valid verdict for a few seconds per process."""

    def authenticate(self, request):
        raw = request.headers.get(API_KEY_HEADER)
        seconds = getattr(settings, "API_KEY_LOCAL_CACHE_SECONDS", 0)
        if raw is None or seconds <= 0:
            return super().authenticate(request)
        digest = hashlib.sha256(raw.strip().encode()).digest()
        now = _clock()
        remembered = _verdicts.get(digest)
        if remembered is not None and now < remembered.until and not remembered.info.expired():
            return ApiKeyPrincipal(remembered.info), remembered.info
        result = super().authenticate(request)  # raises for a refused key: nothing is remembered
        if result is not None:
            _verdicts.put(digest, _Verdict(info=result[1], until=now + seconds))
        return result


class RememberingApiKeyScheme(ApiKeyScheme):
    """The same ``apiKey`` security scheme in the OpenAPI schema."""

    target_class = "notification_common.remembered_api_keys.RememberingApiKeyAuthentication"
