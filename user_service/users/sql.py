"""The few statements the delivery path runs on every call, prepared once per connection.

The user lookup and the status-report statements are fixed SQL strings run thousands of times
a minute. Sent as text with the values inlined (Django's default client-side binding), each
run was parsed and planned again, and PostgreSQL spent longer planning them than running
them. Here they go through a psycopg cursor with server-side parameters and ``prepare=True``:
planned once on each connection, then only executed (docs/user_service.md, "Cost of the
delivery path"). Needs a direct connection or a session-mode pooler (a transaction-mode
pooler cannot keep a prepared statement).
"""

import time

import psycopg
from django.db import connection


def fetch_prepared(sql: str, params: list) -> list[tuple]:
    """Run ``sql`` (``%s`` placeholders) as a prepared statement on Django's connection, in its
    current transaction; the rows it returns (none for a statement without RETURNING)."""
    # Django's cursor first: its connection health check and set-up (time zone, adapters),
    # and its error wrapper, so a broken connection is closed at the end of the request.
    started = time.monotonic()
    with connection.cursor() as django_cursor, connection.wrap_database_errors:
        with psycopg.Cursor(django_cursor.cursor.connection) as cursor:
            cursor.execute(sql, params, prepare=True)
            rows = cursor.fetchall() if cursor.description is not None else []
    if connection.queries_logged:  # DEBUG, CaptureQueriesContext: counted like Django's own
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    return rows
