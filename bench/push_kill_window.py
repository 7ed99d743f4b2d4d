"""How many pushes a kill -9 of the push consumer loses: devices left ``sending`` whose request
never reached FCM.

A device is marked ``sending`` just before its request is written (at most once per device: a
device found ``sending`` after its worker died is never sent again, docs/push_service.md). A
kill landing between the mark and the write loses that push. This benchmark measures how often
that happens with the real ``manage.py consume_push`` draining a backlog into the loopback FCM
server (a separate process, so a request written before the kill is still received):

1. publishes ``--messages`` push messages (one device each) to ``push.queue`` in its own vhost;
2. ``--kills`` times: starts the consumer, lets it send for a random 0.5-1.5 s once pushes flow,
   kills it -9, waits for the FCM server to take what was written, then compares the devices
   left ``sending`` with the tokens the FCM server received;
3. prints the devices left ``sending`` per kill, how many of them FCM never got (lost), pushes
   received twice (duplicated), and the send rate the kills landed in.

    .venv/bin/python bench/push_kill_window.py [--kills 20] [--messages 20000]

The template and user services are loopback stubs; rows go to the dev database ``push_db``
and are removed at the end. Run it on an otherwise idle machine: the window widens with load.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from push_throughput import (  # noqa: E402 - the sibling benchmark's set-up, shared
    BENCH_RABBITMQ_URL,
    PUSH_DATABASE_URL,
    PYTHON,
    ROOT,
    delivered_rows,
    free_port,
    publish_messages,
    purge_queues,
    stub_template_service,
    wait_for,
)

from notification_common.vhosts import ensure_vhost  # noqa: E402
from notification_devtools.testing.http import StubHTTPServer  # noqa: E402


def _devices_sending(ids: list[str]) -> list[str]:
    with psycopg.connect(PUSH_DATABASE_URL.replace("postgres://", "postgresql://", 1)) as conn:
        rows = conn.execute(
            "SELECT d.token FROM pushes_pushdeviceresult d JOIN pushes_pushnotification n ON n.id = d.notification_id"
            " WHERE n.notification_id = ANY(%s::uuid[]) AND d.status = 'sending'",
            (ids,),
        ).fetchall()
    return [row[0] for row in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20, help="kill -9 of the consumer this many times")
    parser.add_argument("--messages", type=int, default=20000, help="push messages published (one device each)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill times")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    run_id = uuid.uuid4().hex[:8]
    ensure_vhost(BENCH_RABBITMQ_URL)
    purge_queues()
    workdir = Path(tempfile.mkdtemp(prefix="push-kill-"))
    account, fcm_port = workdir / "service-account.json", free_port()
    fcm_url = f"http://127.0.0.1:{fcm_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "DJANGO_SETTINGS", "PYTEST_"))},
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        "ADMIN_SERVICE_URL": "",
        "RABBITMQ_URL": BENCH_RABBITMQ_URL,
        "REDIS_URL": "redis://127.0.0.1:6379/11",
        "FCM_ENDPOINT": fcm_url,
        "FIREBASE_SERVICE_ACCOUNT_PATH": str(account),
        "PUSH_SENDING_LEASE_SECONDS": "2",  # the next run settles what a killed one left
    }
    users, templates = StubHTTPServer(), StubHTTPServer()
    users.reply("POST", "/api/v1/push/status/", 200, None)
    users.reply("POST", "/api/v1/devices/deactivate/", 200, {"deactivated": 1})
    code = f"bench-kill-{run_id}"
    stub_template_service(templates, code)
    env |= {"TEMPLATE_SERVICE_URL": templates.url, "USER_SERVICE_URL": users.url}
    fcm = subprocess.Popen(
        [PYTHON, "-m", "notification_devtools.loopback.fcm", "--port", str(fcm_port)]
        + ["--write-service-account", str(account)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    ids: list[str] = []
    per_kill = []
    seen: set[str] = set()
    try:
        wait_for(lambda: account.exists() and httpx.get(f"{fcm_url}/_loopback/health").status_code == 200, "FCM", 30)
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT / "push_service", env=env, check=True
        )
        ids = publish_messages(args.messages, 1, code, run_id)

        def received() -> int:
            return httpx.get(f"{fcm_url}/_loopback/health", timeout=5).json()["messages"]

        log = open(workdir / "consumer.log", "w")  # noqa: SIM115 - closed at the end
        for kill in range(args.kills):
            start = received()
            consumer = subprocess.Popen(
                [PYTHON, "manage.py", "consume_push"], cwd=ROOT / "push_service", env=env, stdout=log, stderr=log
            )
            wait_for(lambda s=start: received() > s + 50, "pushes flowing", 60, consumer)
            flowing, at = received(), time.monotonic()
            time.sleep(rng.uniform(0.5, 1.5))
            os.kill(consumer.pid, signal.SIGKILL)
            rate = (received() - flowing) / (time.monotonic() - at)
            consumer.wait()
            time.sleep(1.0)  # the FCM server takes what was written before the kill
            # Only devices this kill left: one left by an earlier kill may not be settled yet.
            sending = [t for t in _devices_sending(ids) if t not in seen]
            seen.update(sending)
            lost = [t for t in sending if not httpx.get(f"{fcm_url}/_loopback/messages?token={t}").json()]
            per_kill.append((len(sending), len(lost), rate))
            print(f"kill {kill + 1}: ~{rate:.0f} pushes/s, left sending {len(sending)}, never at FCM {len(lost)}")
            time.sleep(2.5)  # the lease runs out: the next run settles them as outcome_unknown
            if received() >= args.messages - 500:
                print("backlog nearly drained: stopping early")
                break
        log.close()
        messages = httpx.get(f"{fcm_url}/_loopback/messages", timeout=60).json()
        duplicated = len(messages) - len({m["token"] for m in messages})
    finally:
        fcm.terminate()
        fcm.wait(10)
        users.close()
        templates.close()
        purge_queues()
        if ids:
            delivered_rows(ids, delete=True)

    kills = len(per_kill)
    left = sum(p[0] for p in per_kill)
    lost = sum(p[1] for p in per_kill)
    mean_rate = sum(p[2] for p in per_kill) / max(1, kills)
    print(f"push kill window: {kills} kills -9 of consume_push at ~{mean_rate:.0f} pushes/s (loopback FCM)")
    print(f"left sending: {left} ({left / max(1, kills):.1f} per kill), reached FCM: {left - lost}")
    print(f"lost (marked, never written): {lost} ({lost / max(1, kills):.2f} per kill); duplicated: {duplicated}")
    print(f"consumer log: {workdir / 'consumer.log'}")
    return 0 if duplicated == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
