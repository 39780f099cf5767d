"""Shared helpers for the field-encryption tests."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, models

from heroshhi.core.crypto import reset_key_caches


@pytest.fixture(autouse=True)
def fresh_key_caches() -> Iterator[None]:
    """Every test starts and ends with empty key caches (settings may change in between)."""
    reset_key_caches()
    yield
    reset_key_caches()


def master_entry(key_id: str, key: bytes | None = None) -> str:
    key = key if key is not None else secrets.token_bytes(32)
    return f"{key_id}:{base64.b64encode(key).decode()}"


def _table_and_pk(model: type[models.Model], pk: Any) -> tuple[str, str, Any]:
    pk_field = model._meta.pk
    assert pk_field is not None
    assert pk_field.column is not None
    return (
        connection.ops.quote_name(model._meta.db_table),
        connection.ops.quote_name(pk_field.column),
        pk_field.get_db_prep_value(pk, connection),
    )


def raw_row(model: type[models.Model], pk: Any) -> dict[str, Any]:
    """The row exactly as the database holds it, bypassing the ORM's field conversions."""
    table, pk_column, db_pk = _table_and_pk(model, pk)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} WHERE {pk_column} = %s", [db_pk])  # noqa: S608
        columns = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    assert row is not None, "row not found"
    return dict(zip(columns, row, strict=True))


def write_raw(model: type[models.Model], pk: Any, column: str, value: Any) -> None:
    """Overwrite one stored value directly, as an attacker with database access could."""
    table, pk_column, db_pk = _table_and_pk(model, pk)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {connection.ops.quote_name(column)} = %s "  # noqa: S608
            f"WHERE {pk_column} = %s",
            [value, db_pk],
        )
