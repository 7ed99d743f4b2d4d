"""``PushService``: sending through Firebase Cloud Messaging with the unmodified firebase-admin SDK.

The SDK is used as shipped, with two exceptions: :func:`point_sdk_at_fcm_endpoint` sets where
messaging sends (``FCM_ENDPOINT``), for the loopback FCM server in tests and ``make dev``, and
:func:`stop_sdk_resends` takes away the SDK's own HTTP retries (our retries decide) and puts
the wire hook in (each device is marked ``sending`` just before its request is written).
The OAuth token fetch goes to the service account's ``token_uri``; google-auth's background
"regional access boundary" lookup is switched off (docs/push_service.md, "FCM"). What each
answer means for its device is in :mod:`pushes.outcomes`.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import firebase_admin
import requests
import urllib3
from firebase_admin import credentials, exceptions, messaging
from prometheus_client import Counter, Histogram
from urllib3.util.retry import Retry

from notification_common.circuit import CircuitBreaker, CircuitOpenError
from notification_common.firebase_offline import disable_background_lookups
from pushes.constants import FCM_INVALID_ARGUMENT
from pushes.outcomes import PERMANENT, TRANSIENT, TokenOutcome, classify
from pushes.payloads import PushPayload

logger = logging.getLogger(__name__)

# Device tokens are FCM registration tokens, so we target them with ``tokens`` (which 7.7
# deprecates in favour of Firebase installation ids, a different identifier). The SDK warns
# once per token; the warning says nothing we can act on.
warnings.filterwarnings("ignore", message=r"(Multicast)?Message\.tokens? is deprecated", category=DeprecationWarning)

FCM_SEND_PATH = "/v1/projects/{0}/messages:send"

FCM_RESULTS = Counter("push_fcm_results", "Per-device results of FCM sends.", ["outcome", "error_code"])
FCM_CALL_SECONDS = Histogram("push_fcm_call_seconds", "Duration of one FCM send (one device token).")


def point_sdk_at_fcm_endpoint(endpoint: str) -> None:
    """The one hook into firebase-admin: where its messaging service sends.

    The SDK has no option or environment variable for the FCM endpoint. Its
    ``_MessagingService.__init__`` formats the class attribute ``FCM_URL`` with the project id
    once, when an app's messaging service is first created (the app's first messaging call),
    and both the threaded and the async send paths use the result. So this must run before
    that first call; :class:`PushService` calls it before it creates its app. ``FCM_URL`` is
    private: firebase-admin is pinned in requirements.txt and a test asserts the attribute
    still exists and still has the shape we replace.
    """
    if not isinstance(getattr(messaging._MessagingService, "FCM_URL", None), str):
        raise RuntimeError("firebase_admin.messaging._MessagingService.FCM_URL is gone: check the pinned SDK version")
    messaging._MessagingService.FCM_URL = endpoint.rstrip("/") + FCM_SEND_PATH


# What the SDK may still retry by itself: a connection that was never made (nothing was sent).
# Not a read error (FCM may have accepted the message: resending it could deliver it twice) and
# not a 500/503/429 answer: those come back to us at once as transient outcomes. The SDK's
# default (``_http_client.DEFAULT_RETRY_CONFIG``) retries 500/503 four times over about 7 s and a
# 429 with Retry-After for as long as FCM asks, all while our devices are marked ``sending``:
# a worker killed in that window leaves messages FCM never accepted of unknown outcome.
SDK_RETRIES = Retry(
    total=1,
    connect=1,
    read=0,
    status=0,
    other=0,
    redirect=0,
    allowed_methods=None,
    status_forcelist=(),
    raise_on_status=False,
    respect_retry_after_header=False,
)


# The hook of the sending thread, run by the wire connection right before its request is written.
_wire = threading.local()


class _NotOurs(Exception):
    """The hook said no (the claim was taken over): the request is not sent."""


class _WireConnectionMixin:
    """An urllib3 connection that, when the sending thread has a hook, connects first, lays the
    whole request (headers and body) out in memory, runs the hook, and writes the request in
    one ``sendall`` right after it.

    The hook commits the device's ``sending`` mark. A worker killed between that commit and
    the write leaves a device marked that FCM never got (reported ``outcome_unknown``, not sent
    again): so nothing may happen in between that can wait, like a connect, a TLS handshake
    or urllib3's own bookkeeping, only a return and one system call. The connection is made
    before the hook is taken, so a connect that fails (and is retried by urllib3) never runs
    it, and a request that goes out has always been marked.
    """

    _held: list[bytes] | None = None

    def request(self, method, url, body=None, headers=None, **kwargs):
        if getattr(_wire, "hook", None) is None:
            return super().request(method, url, body=body, headers=headers, **kwargs)
        if self.sock is None:
            self.connect()
        hook, _wire.hook = _wire.hook, None  # once per send: a repeat after an OAuth refresh goes straight out
        self._held = []
        try:
            super().request(method, url, body=body, headers=headers, **kwargs)
            data = b"".join(self._held)
        finally:
            self._held = None
        written = []

        def write() -> None:
            written.append(True)
            self.sock.sendall(data)

        if not hook(write):
            raise _NotOurs()
        if not written:
            write()

    def send(self, data):
        if self._held is None:
            return super().send(data)
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"the wire connection holds bytes only, not {type(data).__name__}")
        self._held.append(bytes(data))


class _WireHTTPConnection(_WireConnectionMixin, urllib3.connection.HTTPConnection):
    """Plain HTTP (the loopback FCM server), with the wire hook."""


class _WireHTTPSConnection(_WireConnectionMixin, urllib3.connection.HTTPSConnection):
    """HTTPS (FCM itself), with the wire hook."""


class _WireHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WireHTTPConnection


class _WireHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WireHTTPSConnection


_WIRE_POOLS = {"http": _WireHTTPConnectionPool, "https": _WireHTTPSConnectionPool}


class _WireAdapter(requests.adapters.HTTPAdapter):
    """The SDK's HTTP adapter, with pools of wire connections (direct or through a proxy), so
    each device is marked ``sending`` as late as possible: a worker killed with a request not
    yet on the wire leaves as little as possible of unknown outcome."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WIRE_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_WIRE_POOLS)
        return manager

    def send(self, request, *args, **kwargs):
        response = super().send(request, *args, **kwargs)
        if getattr(_wire, "hook", None) is not None:
            # Nothing took the hook: the request went out unmarked, by a path we did not plan
            # for. Its answer still counts (it was sent); only the kill -9 guarantee is weaker.
            _wire.hook = None
            logger.error("an FCM request went out without its device's sending mark", extra={"url": request.url})
        return response


def stop_sdk_resends(app: firebase_admin.App, *, pool_size: int = 10) -> None:
    """Replace every HTTP adapter of the app's messaging client with a :class:`_WireAdapter`
    with :data:`SDK_RETRIES`.

    firebase-admin has no option for its retry policy; its messaging service mounts adapters
    on a ``requests`` session (``_MessagingService._client.session``) when it is created, here.
    Private attributes: firebase-admin is pinned, and tests check that a 503 reaches FCM once
    per send and that every adapter is ours.
    """
    session = messaging._get_messaging_service(app)._client.session
    for prefix in list(session.adapters):
        session.mount(prefix, _WireAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=SDK_RETRIES))


class FcmUnavailable(Exception):
    """FCM cannot be used right now (circuit open, token endpoint down): retry the whole send."""

    def __init__(self, reason: str, *, retry_after: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class SendJob:
    """One notification's payload and the tokens still to receive it.

    ``before_send(tokens)`` runs in the send thread just before the request for those tokens
    is written (``pushes.services.delivery`` marks those devices ``sending`` there, so a device
    is ``sending`` only while its request is really in flight); False means that request is not
    sent."""

    key: object
    payload: PushPayload
    tokens: tuple[str, ...]
    before_send: Callable[[tuple[str, ...]], bool] | None = None


class PushService:
    """One firebase app per instance; ``send`` delivers several notifications concurrently.

    One ``messaging.send`` (one HTTP request) per device token, ``concurrency`` of them at once
    in the send pool, so a batch does not go one request at a time. Not the SDK's
    ``send_each_for_multicast``: that fans out in threads of its own, where the wire hook that
    marks each device ``sending`` just before its request could not follow.
    """

    def __init__(
        self,
        *,
        service_account_path: str,
        endpoint: str,
        http_timeout: float = 10.0,
        concurrency: int = 8,
        breaker: CircuitBreaker | None = None,
        app_name: str | None = None,
    ):
        point_sdk_at_fcm_endpoint(endpoint)
        credential = credentials.Certificate(service_account_path)
        disable_background_lookups(credential)
        self.app = firebase_admin.initialize_app(
            credential,
            # httpTimeout is the SDK's only HTTP setting (its retry policy is fixed; see docs).
            {"httpTimeout": http_timeout},
            name=app_name or f"push-service-{uuid.uuid4().hex[:8]}",
        )
        stop_sdk_resends(self.app, pool_size=max(10, concurrency))
        self.breaker = breaker or CircuitBreaker("fcm")
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="fcm-send")
        # Per batch: None before the first submit, True once FCM was usable, or the
        # FcmUnavailable that every later submit of the batch raises again.
        self._batch_state: bool | FcmUnavailable | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        firebase_admin.delete_app(self.app)

    def warm_up(self) -> bool:
        """Fetch the OAuth token once, before any concurrent send (google-auth does not
        serialise refreshes: a pool of threads finding no token would each fetch one)."""
        try:
            self.app.credential.get_access_token()
        except Exception as exc:  # the worker still starts; the next send tries again
            logger.warning("FCM token fetch failed at start", extra={"error": f"{type(exc).__name__}: {exc}"})
            return False
        return True

    def _ensure_token(self) -> None:
        # Refresh here, in one thread, before the SDK fans out (same reason as warm_up).
        if not self.app.credential.get_credential().valid:
            try:
                self.app.credential.get_access_token()
            except Exception as exc:
                raise FcmUnavailable(f"FCM token fetch failed: {type(exc).__name__}: {exc}"[:500]) from exc

    def check_available(self) -> None:
        """Raise FcmUnavailable while the circuit is open (without claiming the half-open
        trial), so a batch spends no template calls on pushes that cannot go out."""
        if self.breaker.state == CircuitBreaker.OPEN:
            retry_in = self.breaker.retry_in()
            raise FcmUnavailable(f"circuit 'fcm' is open; retry in {retry_in:.1f}s", retry_after=retry_in)

    def _open_batch(self) -> None:
        try:
            self.breaker.before_call()
        except CircuitOpenError as exc:
            raise FcmUnavailable(str(exc), retry_after=exc.retry_in) from exc
        try:
            self._ensure_token()
        except FcmUnavailable:
            self.breaker.record_failure()
            raise

    def submit(self, job: SendJob) -> list[Future]:
        """Start sending one job (one request per token); finish with :meth:`collect`.

        The first submit of a batch passes the circuit breaker (the half-open trial is the
        batch) and makes sure of the OAuth token; raises FcmUnavailable if either fails.
        """
        if self._batch_state is None:
            try:
                self._open_batch()
            except FcmUnavailable as exc:
                self._batch_state = exc
                raise
            self._batch_state = True
        if isinstance(self._batch_state, FcmUnavailable):
            raise self._batch_state
        return [self._pool.submit(self._send_one, job.payload, token, job.before_send) for token in job.tokens]

    def collect(self, submitted: dict[object, list[Future]]) -> dict[object, list[TokenOutcome]]:
        """Wait for the batch's jobs; every token's outcome by job key. Feeds the circuit breaker."""
        self._batch_state = None
        results = {key: [o for future in futures for o in future.result()] for key, futures in submitted.items()}
        self._record_health(results)
        return results

    def send(self, jobs: list[SendJob]) -> dict[object, list[TokenOutcome]]:
        """Submit and collect jobs that are all ready at once."""
        try:
            submitted = {job.key: self.submit(job) for job in jobs}
        except FcmUnavailable:
            self._batch_state = None
            raise
        return self.collect(submitted)

    def _record_health(self, results: dict[object, list[TokenOutcome]]) -> None:
        kinds = {outcome.kind for outcomes in results.values() for outcome in outcomes}
        for outcomes in results.values():
            for outcome in outcomes:
                FCM_RESULTS.labels(outcome.kind, outcome.error_code).inc()
        if kinds - {TRANSIENT}:
            self.breaker.record_success()  # FCM answered something definite
        elif kinds:
            self.breaker.record_failure()

    def _send_one(
        self, payload: PushPayload, token: str, before_send: Callable[[tuple[str, ...]], bool] | None = None
    ) -> list[TokenOutcome]:
        message = messaging.Message(
            token=token,
            data=payload.data or None,
            notification=messaging.Notification(
                title=payload.title, body=payload.body, image=payload.image_url or None
            ),
        )
        _wire.hook = (lambda write: before_send((token,), write)) if before_send is not None else None
        started = time.perf_counter()
        try:
            response = messaging.SendResponse({"name": messaging.send(message, app=self.app)}, None)
        except _NotOurs:
            return []  # the claim is not ours any more: nothing was sent
        except exceptions.FirebaseError as exc:
            response = messaging.SendResponse(None, exc)
        except ValueError as exc:  # the SDK refused the message itself (payloads.py missed a rule)
            reason = f"SDK refused the message: {exc}"[:500]
            return [TokenOutcome(token, PERMANENT, error_code=FCM_INVALID_ARGUMENT, error_message=reason)]
        finally:
            _wire.hook = None
            FCM_CALL_SECONDS.observe(time.perf_counter() - started)
        return [classify(token, response)]
