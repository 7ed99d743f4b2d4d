"""Django database connections of a consumer's worker thread.

A worker has no request cycle, so nothing closes a broken or expired connection for it:
the retrying consumer refreshes its thread's connections before each batch, and the consume
loop closes them in the worker thread when it shuts the thread down. No-ops without Django.
"""

from __future__ import annotations

import logging

__all__ = ["close_thread_database_connections", "refresh_thread_database_connections"]

logger = logging.getLogger("notification_common.rabbitmq")


def refresh_thread_database_connections() -> None:
    """Drop the calling thread's broken or expired Django database connections (a worker has
    no request cycle to do it); the next query reconnects. Not inside a transaction."""
    try:
        from django.conf import settings

        if not settings.configured:
            return
        from django.db import close_old_connections, connection

        if not connection.in_atomic_block:
            close_old_connections()
    except Exception:  # noqa: BLE001 - the next query reports a real problem
        logger.debug("could not refresh the database connections", exc_info=True)


def close_thread_database_connections() -> None:
    """Close the calling thread's Django database connections (each thread has its own)."""
    try:
        from django.conf import settings

        if not settings.configured:
            return
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - closing connections we are done with
        logger.debug("could not close the worker thread's database connections", exc_info=True)
