"""The admin site's page of parked outbox rows (registered in admin_site.py): the same
services as the API; a gateway that does not answer is shown, never a 500."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from notification_common.client_ip import client_ip
from notification_common.exceptions import ApplicationError
from platform_admin import outbox

PAGE_SIZE = 25


def _page(request) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


@require_http_methods(["GET", "POST"])
def outbox_parked_view(request):
    if request.method == "POST":
        notification_id = request.POST.get("notification_id", "")
        try:
            outbox.outbox_replay(notification_id=notification_id, actor=request.user, ip=client_ip(request))
            messages.success(request, f"Outbox message {notification_id} replayed; the relay publishes it shortly.")
        except ApplicationError as exc:
            messages.error(request, exc.message)
        return redirect(reverse("admin:platform_outbox"))
    rows, meta, error = [], None, None
    try:
        result = outbox.outbox_parked_list(page=_page(request), limit=PAGE_SIZE)
        rows, meta = result.data or [], result.meta
    except ApplicationError as exc:
        error = exc.message
    context = {
        **admin.site.each_context(request),
        "title": "Parked outbox messages",
        "rows": rows,
        "meta": meta,
        "error": error,
    }
    return TemplateResponse(request, "admin/platform_admin/outbox.html", context)
