"""Operations pages of the Django admin (registered in admin_site.py). They call the same
services, clients and dashboard as the API; a failing service is shown, never a 500."""

from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from notification_common.client_ip import client_ip
from notification_common.exceptions import ApplicationError
from platform_admin import clients, services
from platform_admin.charts import bar_chart
from platform_admin.dashboard import WINDOWS, dashboard_collect
from platform_admin.delivery_series import delivery_series_chart
from platform_admin.forms import TemplateActivateForm, TemplateCreateForm, TemplateVersionForm

DASHBOARD_REFRESH_SECONDS = 10
PAGE_SIZE = 25


def _render(request, template: str, title: str, **context):
    return TemplateResponse(request, template, {**admin.site.each_context(request), "title": title, **context})


def _page(request) -> int:
    try:
        return max(1, int(request.GET.get("page", 1)))
    except ValueError:
        return 1


def _dashboard_charts(data: dict) -> list:
    charts = []
    depths = (data["queues"] or {}).get("depths")
    if depths:
        # Delay queues appear only while they hold something: twenty empty rows hide the rest.
        shown = [(name, q["messages"]) for name, q in depths.items() if ".retry." not in name or q["messages"]]
        charts.append(bar_chart("Messages ready per queue", shown))
        consumers = [(name, q["consumers"]) for name, q in depths.items() if ".retry." not in name]
        charts.append(bar_chart("Consumers per queue", consumers))
    by_status = data["notifications"]["by_status"]
    for window in WINDOWS[:2]:
        title = f"Notifications by status ({window.replace('_', ' ')})"
        charts.append(bar_chart(title, sorted(by_status.get(window, {}).items())))
    rates = data["delivery_success_rate"]
    charts.append(
        bar_chart(
            "Delivery success rate (%)",
            [
                (f"{channel} {window.replace('_', ' ')}", None if rate is None else round(rate * 100, 1))
                for channel, per_window in rates["by_channel"].items()
                for window, rate in (per_window or dict.fromkeys(WINDOWS[:2])).items()
                if window != "total"
            ],
        )
    )
    return charts


def dashboard_view(request):
    data = dashboard_collect()
    return _render(
        request,
        "admin/platform_admin/dashboard.html",
        "Dashboard",
        data=data,
        charts=[delivery_series_chart(), *_dashboard_charts(data)],
        refresh_seconds=DASHBOARD_REFRESH_SECONDS,
    )


def user_list_view(request):
    search = request.GET.get("q", "").strip()
    users, meta, error = [], None, None
    try:
        result = clients.users_fetch(search=search, page=_page(request), limit=PAGE_SIZE)
        users, meta = result.data or [], result.meta
    except ApplicationError as exc:
        error = exc.message
    return _render(
        request, "admin/platform_admin/users.html", "Users", users=users, meta=meta, search=search, error=error
    )


@require_http_methods(["GET", "POST"])
def user_detail_view(request, user_id):
    if request.method == "POST":
        action = {"deactivate": services.user_deactivate, "reactivate": services.user_reactivate}.get(
            request.POST.get("action", "")
        )
        if action is None:
            messages.error(request, "Unknown action.")
        else:
            try:
                action(user_id=user_id, actor=request.user, ip=client_ip(request))
                messages.success(request, f"User {request.POST['action']}d.")
            except ApplicationError as exc:
                messages.error(request, exc.message)
        return redirect(reverse("admin:platform_user_detail", args=[user_id]))
    user, notifications, error = None, [], None
    try:
        user = clients.user_fetch(user_id=user_id)
        notifications = clients.user_notifications_fetch(user_id=user_id, limit=20)
    except ApplicationError as exc:
        error = exc.message
    return _render(
        request,
        "admin/platform_admin/user_detail.html",
        f"User {user_id}",
        user_data=user,
        notifications=notifications,
        error=error,
    )


def template_list_view(request):
    params = {"page": _page(request), "limit": PAGE_SIZE}
    for name in ("channel", "search"):
        if request.GET.get(name):
            params[name] = request.GET[name]
    templates, meta, error = [], None, None
    try:
        result = clients.templates_fetch(params=params)
        templates, meta = result.data or [], result.meta
    except ApplicationError as exc:
        error = exc.message
    return _render(
        request,
        "admin/platform_admin/templates.html",
        "Templates",
        templates=templates,
        meta=meta,
        error=error,
        params=params,
    )


@require_http_methods(["GET", "POST"])
def template_create_view(request):
    form = TemplateCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        payload = form.cleaned_data["payload"]
        try:
            services.template_create(payload=payload, actor=request.user, ip=client_ip(request))
        except ApplicationError as exc:
            form.add_error(None, f"{exc.message} {exc.data or ''}")
        else:
            messages.success(request, f"Template {payload['code']} created.")
            return redirect(reverse("admin:platform_template_detail", args=[payload["code"]]))
    return _render(request, "admin/platform_admin/template_form.html", "New template", form=form)


@require_http_methods(["GET", "POST"])
def template_detail_view(request, code):
    version_form = TemplateVersionForm(request.POST if request.POST.get("action") == "version" else None)
    activate_form = TemplateActivateForm(request.POST if request.POST.get("action") == "activate" else None)
    if request.method == "POST":
        try:
            if request.POST.get("action") == "version" and version_form.is_valid():
                services.template_version_create(
                    code=code, payload=version_form.cleaned_data["payload"], actor=request.user, ip=client_ip(request)
                )
                messages.success(request, "Version created.")
                return redirect(reverse("admin:platform_template_detail", args=[code]))
            if request.POST.get("action") == "activate" and activate_form.is_valid():
                services.template_version_activate(
                    code=code,
                    version=activate_form.cleaned_data["version"],
                    language=activate_form.cleaned_data["language"] or None,
                    actor=request.user,
                    ip=client_ip(request),
                )
                messages.success(request, "Version activated.")
                return redirect(reverse("admin:platform_template_detail", args=[code]))
        except ApplicationError as exc:
            messages.error(request, f"{exc.message} {exc.data or ''}")
    template, versions, error = None, [], None
    try:
        template = clients.template_fetch(code=code)
        versions = clients.template_versions_fetch(code=code, params={"limit": 100}).data or []
    except ApplicationError as exc:
        error = exc.message
    return _render(
        request,
        "admin/platform_admin/template_detail.html",
        f"Template {code}",
        code=code,
        template_data=template,
        versions=versions,
        error=error,
        version_form=version_form,
        activate_form=activate_form,
    )
