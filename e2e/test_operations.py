"""What an operator sees: the admin dashboard reports every service and the consumers."""

from helpers import data, wait_for


def test_dashboard_shows_every_service_up_and_consumers_attached(admin, admin_auth):
    def all_up():
        dashboard = data(admin.get("/api/v1/admin/dashboard/", headers=admin_auth))
        return dashboard if dashboard["status"] == "ok" else None

    dashboard = wait_for(all_up, timeout=20, interval=1, describe="every service up on the dashboard")

    assert {name for name, service in dashboard["services"].items() if service["status"] == "up"} >= {
        "api_gateway_service",
        "user_service",
        "template_service",
        "email_service",
        "push_service",
        "admin_service",
    }
    assert dashboard["consumers"]["email"]["consumers"] >= 1
    assert dashboard["consumers"]["push"]["consumers"] >= 1
    assert dashboard["consumers"]["dead_letters"]["consumers"] >= 1
    assert {"email.queue", "push.queue", "failed.queue"} <= set(dashboard["queues"]["depths"])
