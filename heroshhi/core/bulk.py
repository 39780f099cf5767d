"""Writing different values to many rows in one statement."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections
from django.db.models import Field, Model, QuerySet


def rows_update[M: Model](queryset: QuerySet[M], objs: Iterable[M], fields: Sequence[str]) -> int:
    """Save ``fields`` of ``objs`` (rows the queryset admits), like ``QuerySet.bulk_update``;
    the number of rows written.

    On PostgreSQL it is one ``UPDATE … FROM (VALUES …)``: Django's own bulk update builds a
    CASE per field and row, whose expressions cost far more in Python than the database
    spends writing the rows. Values are prepared for the database as ``save()`` would,
    without ``pre_save`` (so not for encrypted or auto-now fields)."""
    rows = list(objs)
    if not rows:
        return 0
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.bulk_update(rows, fields)
    meta = queryset.model._meta
    key = meta.pk
    assert key is not None
    columns: list[Field[Any, Any]] = [meta.get_field(name) for name in fields]  # type: ignore[misc]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    row_sql = "(" + ", ".join(f"%s::{field.db_type(connection)}" for field in (key, *columns)) + ")"
    params: list[Any] = []
    for obj in rows:
        params.append(key.get_db_prep_value(obj.pk, connection))
        params += [
            field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns
        ]
    names = ", ".join(quote(str(field.column)) for field in (key, *columns))
    assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in columns)
    pk_column = quote(str(key.column))
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM (VALUES {', '.join([row_sql] * len(rows))}) AS v({names}) "
        f"WHERE {table}.{pk_column} = v.{pk_column}"
    )
    # The queryset's own conditions (the workspace scope, a status the rows must still be in).
    compiler = queryset.query.get_compiler(connection=connection)
    where_sql, where_params = compiler.compile(queryset.query.where)
    if where_sql:
        sql += f" AND {where_sql}"
        params += list(where_params)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.rowcount)
