"""Prepare the local infrastructure: one database and role per service, the RabbitMQ
vhosts (``notifications`` for running, ``notifications_test`` for tests) and topology.

Idempotent; run by ``make infra``. Connects to PostgreSQL as ``POSTGRES_ADMIN_URL``
(default: the ``postgres`` role on 127.0.0.1, trusted locally).
"""

import os
import sys

import psycopg
from psycopg import sql

SERVICES = {
    "api_gateway_service": "api_gateway_db",
    "user_service": "user_db",
    "template_service": "template_db",
    "email_service": "email_db",
    "push_service": "push_db",
    "admin_service": "admin_db",
}


def create_databases(admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role, database in SERVICES.items():
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
            # CREATEDB lets each service's test run create and drop its own test database.
            if not exists:
                conn.execute(
                    sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(sql.Identifier(role), sql.Literal(role))
                )
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role))
                )
            print(f"  postgres: database {database} (role {role}) ready")


def prepare_rabbitmq(urls: list[str]) -> None:
    from notification_common.rabbitmq import declare_topology_from_url
    from notification_common.vhosts import ensure_vhost

    for url in urls:
        vhost = ensure_vhost(url)
        declare_topology_from_url(url)
        print(f"  rabbitmq: vhost {vhost} with topology declared")


def main() -> int:
    admin_url = os.environ.get("POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        create_databases(admin_url)
    except psycopg.OperationalError as exc:
        print(f"infra: cannot reach PostgreSQL as {admin_url}: {exc}", file=sys.stderr)
        return 1
    from notification_common.conf import DEFAULT_RABBITMQ_URL

    rabbit_url = os.environ.get("RABBITMQ_URL", DEFAULT_RABBITMQ_URL)
    test_url = os.environ.get("TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/notifications_test")
    try:
        prepare_rabbitmq([rabbit_url, test_url])
    except Exception as exc:
        print(f"infra: cannot prepare RabbitMQ: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
