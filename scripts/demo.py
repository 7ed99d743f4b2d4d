"""``make demo``: send a first notification through a running ``make dev`` and show where it arrived.

1. registers a demo user at the user service (or logs in, if it exists),
2. loads the starter templates (``manage.py load_templates``, idempotent),
3. sends the ``welcome`` email with the development sender key,
4. polls the notification's status at the gateway until it is final,
5. prints the email as the loopback SMTP server received it.

Every step is printed as the curl command that does the same, so it doubles as a tour of the API.
URLs and ports are those of ``make dev``; override with the environment variables below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
# The services default to production and refuse the dev defaults there (docs/operations.md).
os.environ.setdefault("ENVIRONMENT", "development")
GATEWAY = os.environ.get("GATEWAY_SERVICE_URL", "http://127.0.0.1:8000")
USERS = os.environ.get("USER_SERVICE_URL", "http://127.0.0.1:8001")
SMTP_API = os.environ.get("DEMO_SMTP_API_URL", "http://127.0.0.1:8025")
SENDER_KEY = os.environ.get("DEMO_SENDER_KEY", "dev-sender-key-change-me")
DEMO_EMAIL = os.environ.get("DEMO_EMAIL", "demo@example.com")
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "demo-Password-2026")


def step(title: str, curl: str) -> None:
    print(f"\n== {title}\n   $ {curl}", flush=True)


def fail(message: str) -> None:
    print(f"\ndemo: {message}", file=sys.stderr)
    sys.exit(1)


def ensure_running(client: httpx.Client) -> None:
    for name, url in (("gateway", GATEWAY), ("user service", USERS)):
        try:
            client.get(f"{url}/api/v1/health/live/", timeout=3).raise_for_status()
        except httpx.HTTPError:
            fail(f"the {name} does not answer at {url}. Start the platform first: make dev")


def demo_user(client: httpx.Client) -> str:
    body = {
        "name": "Demo User",
        "email": DEMO_EMAIL,
        "password": DEMO_PASSWORD,
        "preferences": {"email": True, "push": True},
    }
    step(
        "register a user",
        f"curl -X POST {USERS}/api/v1/users/ -H 'Content-Type: application/json' -d '{json.dumps(body)}'",
    )
    response = client.post(f"{USERS}/api/v1/users/", json=body)
    if response.status_code == 201:
        print(f"   created {DEMO_EMAIL}")
    elif response.status_code == 409:
        print(f"   {DEMO_EMAIL} exists already; logging in")
    else:
        fail(f"registration failed: {response.status_code} {response.text}")
    credentials = {"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    step("log in", f"curl -X POST {USERS}/api/v1/users/login/ -d '{json.dumps(credentials)}' ...")
    login = client.post(f"{USERS}/api/v1/users/login/", json=credentials)
    if login.status_code != 200:
        fail(f"login failed: {login.status_code} {login.text}")
    user_id = login.json()["data"]["user"]["id"]
    print(f"   user id {user_id}")
    return user_id


def load_templates() -> None:
    step("load the starter templates", "cd template_service && ../.venv/bin/python manage.py load_templates")
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", "load_templates"],
        cwd=ROOT / "template_service",
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        fail(f"load_templates failed:\n{result.stdout}{result.stderr}")
    print("   " + (result.stdout.strip().splitlines() or ["done"])[-1])


def send(client: httpx.Client, user_id: str) -> str:
    body = {
        "notification_type": "email",
        "user_id": user_id,
        "template_code": "welcome",
        "variables": {"name": "Demo User", "link": "https://example.com/start"},
        "request_id": f"demo-{int(time.time())}",
        "language": "en",
    }
    step(
        "send the welcome email",
        f"curl -X POST {GATEWAY}/api/v1/notifications/ -H 'X-API-Key: {SENDER_KEY}' "
        f"-H 'Content-Type: application/json' -d '{json.dumps(body)}'",
    )
    response = client.post(f"{GATEWAY}/api/v1/notifications/", json=body, headers={"X-API-Key": SENDER_KEY})
    if response.status_code not in (200, 202):
        fail(f"the gateway refused it: {response.status_code} {response.text}")
    notification_id = response.json()["data"]["notification_id"]
    print(f"   {response.status_code} accepted, notification_id {notification_id}")
    return notification_id


def poll_status(client: httpx.Client, notification_id: str) -> dict:
    url = f"{GATEWAY}/api/v1/notifications/{notification_id}/"
    step("follow its status", f"curl {url} -H 'X-API-Key: {SENDER_KEY}'")
    deadline = time.monotonic() + 30
    seen = None
    while time.monotonic() < deadline:
        data = client.get(url, headers={"X-API-Key": SENDER_KEY}).json()["data"]
        if data["status"] != seen:
            seen = data["status"]
            print(f"   status: {seen}")
        if seen in ("delivered", "failed"):
            return data
        time.sleep(0.5)
    fail(f"still {seen} after 30 s; look at the email worker's log in the make dev output")
    return {}


def show_arrival(client: httpx.Client, notification_id: str) -> None:
    url = f"{SMTP_API}/messages?notification_id={notification_id}"
    step("where it arrived: the loopback SMTP server's API", f"curl '{url}'")
    try:
        messages = client.get(url, timeout=3).json()
    except httpx.HTTPError:
        print(f"   no loopback SMTP API at {SMTP_API} (a real SMTP server is configured?)")
        return
    for message in messages:
        print(f"   from:    {message['from']}\n   to:      {', '.join(message['to'])}")
        print(f"   subject: {message['subject']}")
        for line in (message.get("text") or "").strip().splitlines():
            print(f"   | {line}")


def main() -> int:
    with httpx.Client(timeout=10) as client:
        ensure_running(client)
        user_id = demo_user(client)
        load_templates()
        notification_id = send(client, user_id)
        final = poll_status(client, notification_id)
        if final["status"] == "failed":
            fail(f"delivery failed: {final.get('error')}")
        show_arrival(client, notification_id)
    print(f"\nDone. The gateway's Swagger UI: {GATEWAY}/api/docs/ (every service has one: docs/api.md).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
