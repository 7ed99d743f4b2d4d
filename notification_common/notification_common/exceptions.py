"""One domain exception with a stable code, and the one DRF exception handler.

Application code raises ``ApplicationError``; the handler turns it, and every DRF error,
into the response envelope (docs/architecture.md, "Envelope").
"""

import logging
import sys

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import status
from rest_framework.response import Response

from notification_common.envelope import envelope

logger = logging.getLogger(__name__)


class ErrorCode:
    """Stable, machine-readable error codes shared by every service."""

    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    PARSE_ERROR = "parse_error"
    RATE_LIMITED = "rate_limited"
    CONFLICT = "conflict"
    DUPLICATE_REQUEST = "duplicate_request"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    PREFERENCE_DISABLED = "preference_disabled"
    NO_ACTIVE_DEVICE = "no_active_device"
    DEPENDENCY_UNAVAILABLE = "dependency_unavailable"
    OVERLOADED = "overloaded"
    PAYLOAD_TOO_LARGE = "payload_too_large"
    INTERNAL_ERROR = "internal_error"


class ApplicationError(Exception):
    """A failure the client should see, with a stable code, a message and an HTTP status."""

    def __init__(self, code: str, message: str, status_code: int = 400, *, data=None, headers=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status_code = status_code
        self.data = data
        self.headers = headers or {}


class NotFound(ApplicationError):
    def __init__(self, message: str = "Not found.", *, data=None):
        super().__init__(ErrorCode.NOT_FOUND, message, status.HTTP_404_NOT_FOUND, data=data)


class DependencyUnavailable(ApplicationError):
    """503 with ``Retry-After``: something this service needs (a database, Redis, the broker,
    another service) cannot answer right now; the same request can be sent again later."""

    def __init__(self, dependency: str, message: str | None = None, *, retry_after: float | None = None):
        seconds = _retry_after_seconds(retry_after)
        super().__init__(
            ErrorCode.DEPENDENCY_UNAVAILABLE,
            message or f"{dependency} is unavailable, try again later.",
            status.HTTP_503_SERVICE_UNAVAILABLE,
            data={"dependency": dependency},
            headers={"Retry-After": str(seconds)},
        )
        self.dependency = dependency
        self.retry_after = seconds


def _retry_after_seconds(value: float | None) -> int:
    if value is None:
        from notification_common.conf import common_settings

        value = common_settings.OUTAGE_RETRY_AFTER_SECONDS
    return max(1, int(-(-float(value) // 1)))  # whole seconds, rounded up, at least 1


class RateLimited(ApplicationError):
    def __init__(self, retry_after: int, message: str = "Too many requests."):
        super().__init__(
            ErrorCode.RATE_LIMITED,
            message,
            status.HTTP_429_TOO_MANY_REQUESTS,
            data={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


# -- outages of the infrastructure this service stands on --------------------------------------
#
# PostgreSQL, Redis or RabbitMQ going away (a restart, a failover, a network cut) is not a bug:
# the request can be sent again in a moment. Every path (DRF views through the exception
# handler, plain Django views through OutageMiddleware, middleware and everything else through
# the 500 handler) answers 503 in the envelope with Retry-After. Errors that a retry will not
# fix (IntegrityError, DataError, ProgrammingError, an unroutable message) stay real 500s.

_OUTAGE_MESSAGES = {
    "database": "The database is unavailable, try again later.",
    "redis": "Redis is unavailable, try again later.",
    "rabbitmq": "The message broker is unavailable, try again later.",
}


def _outage_types() -> list[tuple[tuple[type, ...], str]]:
    import django.db
    import psycopg
    import redis.exceptions

    types = [
        ((django.db.OperationalError, django.db.InterfaceError), "database"),
        ((psycopg.OperationalError, psycopg.InterfaceError), "database"),
        ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError), "redis"),
    ]
    # Only notification_common.rabbitmq imports pika; if it was never loaded, nothing here raised
    # a pika error. Connection-level errors only: a refused (nacked, unroutable) message is not an outage.
    pika_exceptions = sys.modules.get("pika.exceptions")
    if pika_exceptions is not None:
        types.append(
            (
                (
                    pika_exceptions.AMQPConnectionError,
                    pika_exceptions.ConnectionWrongStateError,
                    pika_exceptions.ChannelWrongStateError,
                ),
                "rabbitmq",
            )
        )
    return types


def outage_dependency(exc: BaseException) -> str | None:
    """``"database"``, ``"redis"`` or ``"rabbitmq"`` when ``exc`` (or what it was raised from)
    says that dependency cannot be reached right now; None for anything else."""
    types = _outage_types()
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 8:  # the cause chain of a wrapped error is short
        for classes, dependency in types:
            if isinstance(current, classes):
                return dependency
        # Only what it was explicitly raised from (Django's and our wrappers use ``raise ... from``):
        # an error raised *while handling* an outage (its __context__) is a bug of its own.
        current = current.__cause__
        seen += 1
    return None


def outage_error(exc: BaseException) -> "DependencyUnavailable | None":
    """The 503 to answer for an infrastructure outage (logged without a trace), or None."""
    dependency = outage_dependency(exc)
    if dependency is None:
        return None
    logger.warning(
        "%s unavailable; answering 503", dependency, extra={"dependency": dependency, "error": repr(exc)[:300]}
    )
    return DependencyUnavailable(dependency, _OUTAGE_MESSAGES[dependency])


def outage_response(exc: BaseException):
    """A plain Django JsonResponse (503, envelope, Retry-After) for an outage, or None (outside DRF)."""
    error = outage_error(exc)
    if error is None:
        return None
    from django.http import JsonResponse

    response = JsonResponse(
        envelope(success=False, data=error.data, error=error.code, message=error.message), status=error.status_code
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


_DRF_CODES = {
    drf_exceptions.ValidationError: ErrorCode.VALIDATION_ERROR,
    drf_exceptions.ParseError: ErrorCode.PARSE_ERROR,
    drf_exceptions.NotAuthenticated: ErrorCode.NOT_AUTHENTICATED,
    drf_exceptions.AuthenticationFailed: ErrorCode.AUTHENTICATION_FAILED,
    drf_exceptions.PermissionDenied: ErrorCode.PERMISSION_DENIED,
    drf_exceptions.NotFound: ErrorCode.NOT_FOUND,
    drf_exceptions.MethodNotAllowed: ErrorCode.METHOD_NOT_ALLOWED,
    drf_exceptions.UnsupportedMediaType: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    drf_exceptions.Throttled: ErrorCode.RATE_LIMITED,
}

_MESSAGES = {
    ErrorCode.VALIDATION_ERROR: "Invalid input.",
}


def _code_for(exc: drf_exceptions.APIException) -> str:
    for cls in type(exc).__mro__:
        if cls in _DRF_CODES:
            return _DRF_CODES[cls]
    return exc.default_code if isinstance(exc.default_code, str) else "error"


def _message_for(code: str, detail) -> str:
    if isinstance(detail, str):
        return detail
    if code in _MESSAGES:
        return _MESSAGES[code]
    if isinstance(detail, list) and detail and isinstance(detail[0], str):
        return detail[0]
    if isinstance(detail, dict) and "detail" in detail:
        return str(detail["detail"])
    return "Request failed."


def exception_handler(exc, context):
    """Turn any known error into the envelope; return None for real bugs (DRF then 500s)."""
    if isinstance(exc, RequestDataTooBig):
        # Django's body cap (DATA_UPLOAD_MAX_MEMORY_SIZE / MAX_REQUEST_BYTES) is a 413, not a bare 400.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        exc = ApplicationError(
            ErrorCode.PAYLOAD_TOO_LARGE,
            f"The request body is larger than {limit} bytes.",
            status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
            data={"max_bytes": limit},
        )

    if not isinstance(exc, ApplicationError | drf_exceptions.APIException):
        exc = outage_error(exc) or exc

    if isinstance(exc, ApplicationError):
        response = Response(
            envelope(success=False, data=exc.data, error=exc.code, message=exc.message),
            status=exc.status_code,
        )
        for name, value in exc.headers.items():
            response[name] = value
        return response

    if isinstance(exc, Http404):
        exc = drf_exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf_exceptions.PermissionDenied()

    # Imported here: rest_framework.views loads the DRF settings, which import our auth classes.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None

    code = _code_for(exc)
    detail = response.data
    if isinstance(exc, drf_exceptions.ValidationError):
        data = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        message = _message_for(code, detail)
    else:
        data = None
        message = _message_for(code, exc.detail if hasattr(exc, "detail") else detail)
        if isinstance(exc, drf_exceptions.Throttled) and exc.wait is not None:
            data = {"retry_after": int(exc.wait) + 1}
    response.data = envelope(success=False, data=data, error=code, message=message)
    return response
