"""Delivering push notifications: the writes of the push service.

One call of :func:`push_batch_deliver` handles a batch of queue messages:

1. record the notification and one row per device (unique per notification and token);
2. **claim** the notifications in one commit: a fencing token and a lease (one under another
   worker's live claim is retried later, never sent in parallel); devices a stopped worker
   left ``sending`` get ``failed``/``outcome_unknown`` (never sent twice); pick the devices
   still ``pending``;
3. render (stored after the first time, so retries send the same push), validate;
4. when each device's request is ready to be written (the wire hook of ``transport.py``), mark
   that device ``sending`` (renewing the lease) in one conditional statement of its own, and
   write the request right behind it, pipelined, before the mark's answer is back (the lease,
   renewed and awaited once half of it has passed, is the fence: nothing is sent if the claim
   was taken over);
5. send through FCM, then record each device's result in its own transaction, only with the
   claim's token, then report statuses and queue device deactivations.

The steps live by topic: :mod:`pushes.services.claims` (1, 2 and 4),
:mod:`pushes.services.delivery` (3 and 5's sending), :mod:`pushes.services.results` (5's
recording, and dead letters), :mod:`pushes.services.followups` (reports and deactivations);
:mod:`pushes.services.batch` holds what a batch carries between them. Callers use
``pushes.services.<name>``: the names below are the package's interface.

No database transaction spans an FCM call: an error after FCM accepted a push cannot roll
back its ``sent`` row and send it again. See docs/push_service.md ("State machine").
"""

from __future__ import annotations

from dataclasses import replace

from pushes.queue_messages import PushRequest
from pushes.services.batch import DeliveryDependencies
from pushes.services.claims import push_batch_claim, push_devices_mark_and_write, push_records_ensure
from pushes.services.delivery import _render_and_send
from pushes.services.followups import (
    push_deactivations_mark_done,
    push_reports_mark_sent,
    push_unsent_followups_requeue,
)
from pushes.services.results import _record_with_retries, push_mark_failed, push_results_record

__all__ = [
    "DeliveryDependencies",
    "push_batch_claim",
    "push_batch_deliver",
    "push_deactivations_mark_done",
    "push_devices_mark_and_write",
    "push_mark_failed",
    "push_records_ensure",
    "push_reports_mark_sent",
    "push_results_record",
    "push_unsent_followups_requeue",
]


def push_batch_deliver(*, requests: list[PushRequest], deps: DeliveryDependencies) -> list[Exception | None]:
    """Deliver a batch; one result per request: None (done), TransientError or PermanentError."""
    results: list[Exception | None] = [None] * len(requests)
    unique, copies = _merge_duplicates(requests)
    if not unique:
        return results
    push_records_ensure(requests=[request for _, request in unique])
    work = push_batch_claim(unique=unique, results=results, lease_seconds=deps.lease_seconds)
    if work:
        _render_and_send(work, deps)
        for item in work:
            item.save_state()
        _record_with_retries(work=work, results=results, deps=deps)
    for copy, original in copies.items():
        results[copy] = results[original]  # retried or dead-lettered along with it
    return results


def _merge_duplicates(requests: list[PushRequest]) -> tuple[list[tuple[int, PushRequest]], dict[int, int]]:
    """The same notification twice in one batch (a duplicate publish) is handled once, with
    the union of the token snapshots. Returns the requests to handle (with their index) and
    {index of a copy: index of the request handled for it}."""
    first: dict = {}
    copies: dict[int, int] = {}
    for index, request in enumerate(requests):
        if request.notification_id not in first:
            first[request.notification_id] = (index, request)
            continue
        kept_index, kept = first[request.notification_id]
        tokens = kept.tokens + tuple(t for t in request.tokens if t not in kept.tokens)
        first[request.notification_id] = (kept_index, replace(kept, tokens=tokens))
        copies[index] = kept_index
    return list(first.values()), copies
