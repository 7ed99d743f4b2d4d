"""Batch writes for the consumers: one statement per table per batch, one parameter per column.

``bulk_create``/``bulk_update`` build SQL with a placeholder (and, for updates, a CASE
branch) per row and field; at a few hundred rows per batch that costs more CPU than the
FCM sends. ``unnest`` takes each column as one array instead.
"""

import enum

from django.db import connection, models


def _column_arrays(fields, rows, *, add: bool) -> list[list]:
    # psycopg adapts str, int, bool, UUID, aware datetimes and None as they are; only JSON
    # needs Django's preparation (and choices are plain strings). Field.get_db_prep_save for
    # every value was the most expensive part of a batch.
    columns: list[list] = [[] for _ in fields]
    for column, field in zip(columns, fields, strict=True):
        needs_prep = isinstance(field, models.JSONField)
        stamps = add and getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False)
        for row in rows:
            value = field.pre_save(row, add) if stamps else getattr(row, field.attname)
            if needs_prep:
                value = field.get_db_prep_save(value, connection)
            elif isinstance(value, enum.Enum):
                value = value.value
            column.append(value)
    return columns


def _unnest(fields) -> str:
    return "unnest(" + ", ".join(f"%s::{field.db_type(connection)}[]" for field in fields) + ")"


def insert_ignoring_conflicts(model, rows: list) -> None:
    """INSERT every row; rows that hit a unique constraint are skipped (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    fields = model._meta.concrete_fields
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}) SELECT * FROM {_unnest(fields)}"
            " ON CONFLICT DO NOTHING",
            _column_arrays(fields, rows, add=True),
        )


def update_rows(model, rows: list, field_names: list[str]) -> None:
    """UPDATE ``field_names`` of every row (matched by primary key) in one statement."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.pk, *(meta.get_field(name) for name in field_names)]
    quote = connection.ops.quote_name
    names = [quote(field.column) for field in fields]
    assignments = ", ".join(f"{name} = v.{name}" for name in names[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {_unnest(fields)} AS v({', '.join(names)})"
            f" WHERE t.{names[0]} = v.{names[0]}",
            _column_arrays(fields, rows, add=False),
        )
