"""``StoringConsumer``: stores each message (failed.queue into the admin service's database),
never retries or dead-letters it; a message that cannot be stored as it is is stored reduced
or parked, a store that is down is waited for (docs/admin_service.md)."""

from __future__ import annotations

from notification_common.rabbitmq.consumed import ConsumedMessage, _Delivery, _reason
from notification_common.rabbitmq.consumer import _BROKER_ERRORS, MESSAGES, QueueConsumer, logger
from notification_common.rabbitmq.topology import (
    EXCHANGE,
    FAILED_PARKED_QUEUE,
)

__all__ = [
    "StoringConsumer",
]


class StoringConsumer(QueueConsumer):
    """A consumer that stores each message and never retries or dead-letters it
    (``failed.queue`` into the admin service's database).

    ``handle(message)`` must commit before it returns; then the message is acked. When it
    raises, the consumer tells an outage from a message that cannot be stored as it is:

    * :meth:`store_unavailable` says the store is down (e.g. the database is unreachable):
      the message is nacked back to the queue and the consumer pauses. Nothing is lost and
      nothing spins: that is an outage, not a loop.
    * otherwise ``handle`` is tried once more (the store may have come back in between) and
      then the message is at fault (a NUL byte, broken types, headers the store refuses...):
      :meth:`handle_unstorable` stores a reduced form with the reason, up to
      ``reduced_store_attempts`` times (a subclass reduces further with each attempt), and
      the message is acked.
    * only if even that fails is it moved, as it is, to ``failed.parked.queue`` (reason in
      ``x-store-error``) and acked; if the broker will not take it either, it is nacked back
      and the consumer pauses.

    Bodies that are not JSON are handed over too (``message.body`` is then ``{}``;
    ``message.raw`` has the bytes). docs/operations.md, "Dead letters that cannot be stored".
    """

    failure_pause_seconds: float = 2.0
    reduced_store_attempts: int = 3
    park_queue: str = FAILED_PARKED_QUEUE

    def handle(self, message: ConsumedMessage) -> None:
        raise NotImplementedError

    def handle_unstorable(self, message: ConsumedMessage, reason: str, attempt: int) -> None:
        """Store a reduced form of a message ``handle`` could not store (``reason`` says why);
        ``attempt`` counts from 1, each a little more reduced. Default: none (it is parked)."""
        raise NotImplementedError(f"{type(self).__name__} stores no reduced form")

    def store_unavailable(self, error: BaseException) -> bool:
        """True when ``error`` means the store itself is down (an outage), False when the
        message is at fault. Called after each failure; it may probe the store."""
        return False

    def _process(self, batch: list[_Delivery]) -> int:
        settled = 0
        for delivery in batch:
            MESSAGES.labels(self.queue, "consumed").inc()
            message, _malformed = self._parse(delivery)
            outcome = self._store(message)
            tag = delivery.method.delivery_tag
            if outcome == "unparkable" or (outcome == "unreduced" and not self._park(delivery, message)):
                outcome = "store_unavailable"
            if outcome == "store_unavailable":
                self._channel.basic_nack(tag, requeue=True)
                MESSAGES.labels(self.queue, "store_unavailable").inc()
                self._sleep(self.failure_pause_seconds)
                continue
            self._channel.basic_ack(tag)
            MESSAGES.labels(self.queue, {"unreduced": "parked"}.get(outcome, outcome)).inc()
            settled += 1
        return settled

    def _store(self, message: ConsumedMessage) -> str:
        """``succeeded``, ``stored_reduced``, ``store_unavailable`` or ``unreduced`` (to park)."""
        extra = self._log_extra(message)
        error: BaseException | None = None
        for _ in range(2):
            try:
                self.handle(message)
                return "succeeded"
            except Exception as exc:  # noqa: BLE001 - classified below: outage or the message's fault
                error = exc
            if self._store_down(error, extra):
                return "store_unavailable"
        reason = _reason(error)
        logger.warning(
            "%s: message cannot be stored as it is (%s); storing a reduced form", self.name, reason, extra=extra
        )
        for attempt in range(1, max(1, self.reduced_store_attempts) + 1):
            try:
                self.handle_unstorable(message, reason, attempt)
                return "stored_reduced"
            except NotImplementedError:
                break
            except Exception as exc:  # noqa: BLE001 - the same classification as above
                if self._store_down(exc, extra):
                    return "store_unavailable"
                logger.warning(
                    "%s: reduced form %d not stored either: %s", self.name, attempt, _reason(exc), extra=extra
                )
                reason = f"{reason}; reduced form {attempt}: {_reason(exc)}"
        message.headers["x-store-error"] = reason[:1000]
        return "unreduced"

    def _store_down(self, error: BaseException, extra: dict) -> bool:
        try:
            down = self.store_unavailable(error)
        except Exception:  # noqa: BLE001 - a failing probe means the store is not answering
            logger.debug("%s: store probe raised", self.name, exc_info=True)
            down = True
        if down:
            logger.warning("%s: store unavailable (%s); message requeued", self.name, _reason(error), extra=extra)
        return down

    def _park(self, delivery: _Delivery, message: ConsumedMessage) -> bool:
        """Move the message unchanged (plus ``x-store-error``) to the parking queue; confirmed."""
        props = delivery.properties
        headers = dict(props.headers or {})
        headers["x-store-error"] = message.headers.get("x-store-error", "")
        headers["x-original-queue"] = headers.get("x-original-queue", self.queue)
        parked = self._copy_properties(props, headers, content_type=props.content_type)
        try:
            self._publish_copy(delivery, EXCHANGE, self.park_queue, parked)
        except _BROKER_ERRORS as exc:
            logger.error("%s: could not park a message (%r); requeued", self.name, exc, extra=self._log_extra(message))
            return False
        logger.error(
            "%s: message parked on %s: %s",
            self.name,
            self.park_queue,
            headers["x-store-error"][:300],
            extra=self._log_extra(message),
        )
        return True
