"""The gunicorn configuration every service runs under, in containers and in e2e tests.

``gunicorn -c python:notification_common.gunicorn_conf config.wsgi`` with the bind address
and worker count from the environment (docs/operations.md).
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads give keep-alive between services (sync workers close every connection).
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
# gthread, plus a stamp of how long each request waited for a thread, so a saturated
# process answers 503 at once instead of queueing into client timeouts (overload.py).
worker_class = "notification_common.overload.QueueTimedThreadWorker" if threads > 1 else "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "20"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
accesslog = None  # requests are logged as JSON by the services themselves
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "warning")
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
# gunicorn's control socket lives at one path per user: six services on one machine would
# fight over it. Nothing here uses it.
control_socket_disable = True


def on_starting(server):
    # Prometheus multiprocess mode: each worker writes samples to this dir, /metrics merges them.
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
