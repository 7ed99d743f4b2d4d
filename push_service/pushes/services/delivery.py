"""Rendering, validating and sending a claimed batch (steps 3 and 5 of :mod:`pushes.services`):
a push goes to FCM as soon as its own render is back, each device marked ``sending`` by the
transport's wire hook just before its request is written."""

from __future__ import annotations

from concurrent.futures import as_completed

from django.db import close_old_connections
from django.utils import timezone

from notification_common.request_context import request_id_scope
from pushes.clients import RenderError, TemplateRenderer
from pushes.payloads import PayloadError, build_payload
from pushes.services.batch import DeliveryDependencies, _Work
from pushes.services.claims import push_devices_mark_and_write
from pushes.transport import FcmUnavailable, PushService, SendJob


def _render_and_send(work: list[_Work], deps: DeliveryDependencies) -> None:
    """Render (unless stored), validate and send each notification, as a pipeline: a push is
    sent as soon as its own render is back, so template calls and FCM calls overlap."""
    if not work:
        return
    work = [item for item in work if item.devices]  # some only had unknown outcomes to settle
    if not work:
        return
    try:
        deps.sender.check_available()  # circuit open: spend no template calls on the batch
    except FcmUnavailable as exc:
        for item in work:
            item.error = exc
        return
    submitted: dict[object, list] = {}
    by_future = {}
    for item in work:
        if item.notification.rendered_at is not None:
            _validate_and_submit(item, deps, submitted)
        elif deps.render_pool is None:
            _apply_render(item, _render_result(deps.renderer, item))
            _validate_and_submit(item, deps, submitted)
        else:
            by_future[deps.render_pool.submit(_render_result, deps.renderer, item)] = item
    try:
        for future in as_completed(by_future):
            item = by_future[future]
            _apply_render(item, future.result())
            _validate_and_submit(item, deps, submitted)
    finally:
        outcomes = deps.sender.collect(submitted)  # also ends the batch if a render blew up
    for item in work:
        item.outcomes = outcomes.get(item.index, [])


def _render_result(renderer: TemplateRenderer, item: _Work):
    """The render, or the RenderError (runs in the render pool)."""
    request = item.request
    try:
        with request_id_scope(request.trace_id or None):
            return renderer.render(
                template_code=request.template_code,
                language=request.language,
                variables=request.variables,
                version=item.notification.version,
            )
    except RenderError as exc:
        return exc


def _apply_render(item: _Work, rendered) -> None:
    if isinstance(rendered, RenderError):
        item.error = rendered
        return
    notification = item.notification
    notification.version = rendered.version
    notification.language = rendered.language or notification.language
    notification.title = rendered.title if isinstance(rendered.title, str) else ""
    notification.body = rendered.body if isinstance(rendered.body, str) else ""
    notification.image_url = rendered.image_url if isinstance(rendered.image_url, str) else ""
    notification.data = rendered.data if isinstance(rendered.data, dict) else {}
    notification.rendered_at = timezone.now()
    item.rendered = rendered


def _mark_sending_at_the_wire(item: _Work, lease_seconds: float):
    """The hook the send thread runs when a device's request is ready to be written
    (transport.py's wire connection): that device, and only it, becomes ``sending``, and its
    request is written right behind the mark (claims.push_devices_mark_and_write). A worker
    killed with requests still waiting in the send pool, or still being prepared, leaves those
    devices ``pending`` (sent by the next claim), so only requests really on the wire can end
    as ``outcome_unknown``."""

    def mark_and_write(tokens: tuple[str, ...], write) -> bool:
        if item.taken_over:
            return False
        try:
            return push_devices_mark_and_write(item=item, tokens=tokens, lease_seconds=lease_seconds, write=write)
        finally:
            close_old_connections()  # after the write: nothing may come between the mark and it

    return mark_and_write


def _validate_and_submit(item: _Work, deps: DeliveryDependencies, submitted: dict) -> None:
    if item.error is not None:
        return
    sender: PushService = deps.sender
    notification, rendered = item.notification, item.rendered
    try:
        item.payload = build_payload(
            notification_id=str(notification.notification_id),
            title=rendered.title if rendered else notification.title,
            body=rendered.body if rendered else notification.body,
            image_url=rendered.image_url if rendered else (notification.image_url or None),
            data=rendered.data if rendered else notification.data,
        )
    except PayloadError as exc:
        item.error = exc
        return
    try:
        submitted[item.index] = sender.submit(
            SendJob(
                key=item.index,
                payload=item.payload,
                tokens=tuple(d.token for d in item.devices),
                before_send=_mark_sending_at_the_wire(item, deps.lease_seconds),
            )
        )
    except FcmUnavailable as exc:
        item.error = exc
