"""Writing an accepted notification and its outbox row in one INSERT statement.

Through the ORM this was the intake path's largest cost: two SQL compilations and four round
trips (BEGIN, two INSERTs, COMMIT). One statement is a transaction of its own in autocommit,
so the request and its outbox row still commit together or not at all (inside an outer
``atomic`` block it simply joins that transaction). A ``request_id`` another request took a
moment earlier makes the statement insert nothing (``ON CONFLICT DO NOTHING``): the caller
answers that as a duplicate, and no error aborts an enclosing transaction. The SQL is built
once per process from the models, so a new column cannot be forgotten here.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Callable
from functools import cache

from django.db import connection, models
from django.utils import timezone

from notifications.models import NotificationRequest, OutboxMessage

# The outbox row's columns the statement fills from the request row rather than a parameter.
_FROM_REQUEST = "notification_id"


def _outbox_placeholder(field: models.Field) -> str:
    # In INSERT ... SELECT a parameter has no column to take its type from: spell it out.
    # Text columns get plain text, so a value too long fails as in an INSERT (a cast to
    # varchar(n) would cut it silently).
    if isinstance(field, models.CharField | models.TextField):
        return "%s::text"
    return f"%s::{field.db_type(connection)}"


@cache
def _insert_sql() -> str:
    quote = connection.ops.quote_name
    request_meta, outbox_meta = NotificationRequest._meta, OutboxMessage._meta
    request_columns = ", ".join(quote(field.column) for field in _request_fields())
    outbox_columns = ", ".join(quote(field.column) for field in _outbox_fields())
    outbox_values = ", ".join(
        f"request.{quote(request_meta.pk.column)}" if field.column == _FROM_REQUEST else _outbox_placeholder(field)
        for field in _outbox_fields()
    )
    return (
        f"WITH request AS (INSERT INTO {quote(request_meta.db_table)} ({request_columns}) "
        f"VALUES ({', '.join('%s' for _ in _request_fields())}) "
        f"ON CONFLICT ({quote('sender')}, {quote('idempotency_key')}) DO NOTHING "
        f"RETURNING {quote(request_meta.pk.column)}) "
        f"INSERT INTO {quote(outbox_meta.db_table)} ({outbox_columns}) SELECT {outbox_values} FROM request "
        f"RETURNING {quote(outbox_meta.pk.column)}"
    )


@cache
def _request_fields() -> tuple[models.Field, ...]:
    return tuple(NotificationRequest._meta.concrete_fields)


@cache
def _outbox_fields() -> tuple[models.Field, ...]:
    return tuple(field for field in OutboxMessage._meta.concrete_fields if not field.primary_key)


def _db_value(instance: models.Model, field: models.Field):
    value = getattr(instance, field.attname)
    if isinstance(field, models.JSONField):
        return json.dumps(value)  # PostgreSQL parses the text as jsonb
    if isinstance(value, enum.Enum):
        return value.value
    return value


def notification_with_outbox_insert(
    *,
    notification_fields: dict,
    outbox_fields: dict,
    message_of: Callable[[NotificationRequest], dict],
) -> tuple[NotificationRequest, OutboxMessage, bytes] | None:
    """Insert the request (``notification_fields``) and its outbox row (``outbox_fields``,
    with ``message_of(request)``, the queue message, as its body) in one statement.

    Returns the saved request, its outbox row (linked both ways, as the ORM's create leaves
    them) and the message as JSON, encoded once for the row and the publish; None when the
    sender's ``idempotency_key`` was taken meanwhile (nothing written).
    """
    now = timezone.now()
    notification = NotificationRequest(id=uuid.uuid4(), created_at=now, updated_at=now, **notification_fields)
    body = message_of(notification)
    encoded_body = json.dumps(body, separators=(",", ":"), default=str)
    outbox = OutboxMessage(notification=notification, body=body, created_at=now, **outbox_fields)
    params = [_db_value(notification, field) for field in _request_fields()]
    for field in _outbox_fields():
        if field.attname == "body":
            params.append(encoded_body)
        elif field.column != _FROM_REQUEST:
            params.append(_db_value(outbox, field))
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return None
    outbox.pk = row[0]
    for instance in (notification, outbox):
        instance._state.adding = False
        instance._state.db = connection.alias
    return notification, outbox, encoded_body.encode()
