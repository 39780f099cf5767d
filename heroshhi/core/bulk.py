"""Writing many rows at once: new rows in one COPY, different values in one UPDATE."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, Model, QuerySet
from psycopg import sql

from heroshhi.core.tenancy import WorkspaceOwned, WorkspaceScopeMismatch


def rows_insert(
    model: type[WorkspaceOwned], rows: Sequence[Any], *, workspace_id: uuid.UUID
) -> None:
    """``bulk_create`` for new rows of one workspace; on PostgreSQL through COPY, which
    skips building one big INSERT statement (quoting every value in Python costs more than
    the database spends writing the rows). Each value is prepared exactly as
    ``bulk_create`` prepares it (``pre_save`` encrypts, with the row's id in the AAD), so
    what is stored is the same."""
    if not rows:
        return
    if any(row.workspace_id != workspace_id for row in rows):
        raise WorkspaceScopeMismatch(f"{model.__name__} rows of another workspace.")
    connection = connections[router.db_for_write(model)]
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows)
        return
    fields = model._meta.concrete_fields
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(str(f.column)) for f in fields),
    )
    # Every value is prepared before the COPY starts: preparing may query (a key lookup when
    # the key cache is cold), and the connection can run nothing else while a COPY is open.
    prepared = [
        [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields] for row in rows
    ]
    # The driver's errors as Django's (a unique violation is an IntegrityError), as for
    # the statements Django runs itself.
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for values in prepared:
            copy.write_row(values)
    for row in rows:
        row._state.adding = False
        row._state.db = connection.alias


def rows_update[M: Model](queryset: QuerySet[M], objs: Iterable[M], fields: Sequence[str]) -> int:
    """Save ``fields`` of ``objs`` (rows the queryset admits), like ``QuerySet.bulk_update``;
    the number of rows written.

    On PostgreSQL it is one ``UPDATE … FROM unnest(…)`` with one array parameter per
    column: Django's own bulk update builds a CASE per field and row, and a placeholder per
    value makes the driver parse and quote a statement that grows with the rows; either
    costs far more in Python than the database spends writing them. Values are prepared
    for the database as ``save()`` would, without ``pre_save`` (so not for encrypted or
    auto-now fields)."""
    rows = list(objs)
    if not rows:
        return 0
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return queryset.bulk_update(rows, fields)
    meta = queryset.model._meta
    key = meta.pk
    assert key is not None
    updated: list[Field[Any, Any]] = [meta.get_field(name) for name in fields]  # type: ignore[misc]
    columns = [key, *updated]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    params: list[Any] = [
        [key.get_db_prep_value(obj.pk, connection) for obj in rows],
        *(
            [field.get_db_prep_save(getattr(obj, field.attname), connection) for obj in rows]
            for field in updated
        ),
    ]
    # An array type takes no length or precision: varchar(15)[] is written varchar[].
    arrays = ", ".join(f"%s::{str(field.db_type(connection)).split('(')[0]}[]" for field in columns)
    names = ", ".join(quote(str(field.column)) for field in columns)
    assignments = ", ".join(f"{quote(str(f.column))} = v.{quote(str(f.column))}" for f in updated)
    pk_column = quote(str(key.column))
    # Identifiers come from the model's metadata, quoted; every value is a parameter.
    sql = (
        f"UPDATE {table} SET {assignments} "  # noqa: S608
        f"FROM unnest({arrays}) AS v({names}) "
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
