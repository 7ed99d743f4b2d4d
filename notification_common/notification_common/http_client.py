"""The HTTP client for service-to-service calls.

Timeouts on connect and read, bounded retries with backoff for idempotent requests,
a circuit breaker per target, and the request id and this service's API key on every call.
Failures to reach the target raise ``DependencyUnavailable`` (503 in the envelope).
"""

import logging
import random
import threading
import time

import requests

from notification_common.circuit import CircuitBreaker, CircuitOpenError
from notification_common.conf import common_settings
from notification_common.exceptions import DependencyUnavailable
from notification_common.request_context import REQUEST_ID_HEADER, get_request_id

logger = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
API_KEY_HEADER = "X-API-Key"


class ServiceClient:
    """Calls one other service. One instance per target per process (sessions are pooled)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout: float | None = None,
        read_timeout: float | None = None,
        retries: int | None = None,
        backoff_seconds: float | None = None,
        breaker: CircuitBreaker | None = None,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.connect_timeout = connect_timeout or common_settings.HTTP_CONNECT_TIMEOUT
        self.read_timeout = read_timeout or common_settings.HTTP_READ_TIMEOUT
        self.retries = common_settings.HTTP_RETRIES if retries is None else retries
        self.backoff_seconds = common_settings.HTTP_BACKOFF_SECONDS if backoff_seconds is None else backoff_seconds
        self.breaker = breaker or CircuitBreaker(
            name,
            failure_threshold=common_settings.CIRCUIT_FAILURE_THRESHOLD,
            reset_seconds=common_settings.CIRCUIT_RESET_SECONDS,
            trial_timeout=common_settings.CIRCUIT_TRIAL_TIMEOUT_SECONDS,
        )
        self._local = threading.local()

    @property
    def api_key(self) -> str:
        return self._api_key if self._api_key is not None else common_settings.SERVICE_API_KEY

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.trust_env = False  # no proxy/netrc lookups per call: services talk directly
            adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
        return session

    def request(self, method: str, path: str, *, json=None, params=None, headers=None, retry: bool | None = None):
        """Send a request and return the ``requests.Response`` for any HTTP status below 500.

        Connection errors, timeouts and 5xx answers are retried (idempotent methods, or
        ``retry=True``), then raise DependencyUnavailable. 4xx answers are returned as they are.
        """
        method = method.upper()
        may_retry = (method in IDEMPOTENT_METHODS) if retry is None else retry
        attempts = 1 + (self.retries if may_retry else 0)
        url = f"{self.base_url}/{path.lstrip('/')}"
        send_headers = {"Accept": "application/json"}
        if self.api_key:
            send_headers[API_KEY_HEADER] = self.api_key
        request_id = get_request_id()
        if request_id:
            send_headers[REQUEST_ID_HEADER] = request_id
        send_headers.update(headers or {})

        last_error = "no attempt made"
        for attempt in range(1, attempts + 1):
            try:
                # attempt() records an outcome on every path, an unexpected exception included,
                # so a half-open trial can never hold the circuit open for good.
                with self.breaker.attempt() as outcome:
                    try:
                        response = self._session().request(
                            method,
                            url,
                            json=json,
                            params=params,
                            headers=send_headers,
                            timeout=(self.connect_timeout, self.read_timeout),
                        )
                    except requests.RequestException as exc:
                        outcome.failure()  # timeout, refused or reset connection
                        response = None
                        last_error = f"{type(exc).__name__}: {exc}"
                    else:
                        if response.status_code >= 500:
                            outcome.failure()
                            last_error = f"HTTP {response.status_code}"
                        # A 4xx is a success for the breaker: the service is up and answered.
            except CircuitOpenError as exc:
                raise DependencyUnavailable(
                    self.name, f"{self.name} is unavailable (circuit open).", retry_after=exc.retry_in
                ) from exc
            if response is not None and response.status_code < 500:
                return response
            if attempt < attempts:
                time.sleep(self.backoff_seconds * (2 ** (attempt - 1)) * random.uniform(0.5, 1.0))
        logger.warning("call to %s failed", self.name, extra={"target": url, "error": last_error})
        raise DependencyUnavailable(self.name, f"{self.name} is unavailable ({last_error}).")

    def get(self, path: str, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self.request("DELETE", path, **kwargs)


def envelope_data(response: requests.Response):
    """The ``data`` of an envelope answer, or None when the body is not one."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("data") if isinstance(body, dict) else None
