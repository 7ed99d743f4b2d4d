"""API keys with a short in-process memory of valid verdicts, for the internal callers.

Nearly every request the user service takes comes from a handful of internal keys (the
gateway's user lookups, the workers' status reports), and each paid a Redis read and a JSON
decode of the shared verdict (``notification_common.api_keys``) to learn what it already knew a
moment ago. A valid verdict is now kept in the worker's memory for
``API_KEY_LOCAL_CACHE_SECONDS`` (5 s): a revoked key or a changed scope takes effect here
within that bound, on top of the shared verdict's own rules (docs/user_service.md, "Cost of
the delivery path"). A key's ``expires_at`` is still checked on every request, and refusals
are never kept here: an unknown or revoked key always takes the shared path, with its
failed-lookup limit.
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

# Valid keys only, so made-up keys cannot grow it; a few internal keys are the usual content.
MAX_REMEMBERED_KEYS = 256


@dataclass(frozen=True)
class _Verdict:
    info: ApiKeyInfo
    until: float  # the monotonic clock's time after which the shared verdict is read again


_verdicts = LocalLRU(MAX_REMEMBERED_KEYS)
_clock = time.monotonic  # the tests move it forward instead of waiting


def forget_local_verdicts() -> None:
    """Drop every remembered verdict (tests; a process that must see a revocation at once)."""
    _verdicts.clear()


class RememberingApiKeyAuthentication(ApiKeyAuthentication):
    """``ApiKeyAuthentication`` that remembers a valid verdict for a few seconds per process."""

    def authenticate(self, request):
        raw = request.headers.get(API_KEY_HEADER)
        seconds = settings.API_KEY_LOCAL_CACHE_SECONDS
        if raw is None or seconds <= 0:
            return super().authenticate(request)
        # The digest, not the key, is what stays in memory.
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

    target_class = "users.authentication.RememberingApiKeyAuthentication"
