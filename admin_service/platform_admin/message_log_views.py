"""The message log pages of the admin's Operations section (registered in admin_site.py)."""

from django.contrib import admin
from django.template.response import TemplateResponse

from platform_admin.message_log import message_log_search, message_timeline


def _render(request, template: str, title: str, **context):
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def message_log_view(request):
    query = request.GET.get("q", "").strip()[:254]
    result = message_log_search(query=query) if query else None
    return _render(request, "admin/platform_admin/message_log.html", "Message log", query=query, result=result)


def message_timeline_view(request, notification_id: str):
    timeline = message_timeline(notification_id=notification_id)
    return _render(
        request,
        "admin/platform_admin/message_timeline.html",
        f"Notification {notification_id}",
        notification_id=notification_id,
        timeline=timeline,
    )
