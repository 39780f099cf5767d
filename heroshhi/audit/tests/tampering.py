"""What an attacker with database access (but not the audit key) can do, for the tests.

Each test runs in a transaction that is rolled back, so dropped triggers come back.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, models

from heroshhi.audit.models import AuditEvent


def disable_insert_only_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            for name in (
                "audit_auditevent_insert_only",
                "audit_auditevent_link_once",
                "audit_auditevent_keep_workspace",
                "audit_auditevent_queued_insert",
                "audit_auditcheckpoint_insert_only",
            ):
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif connection.vendor == "postgresql":
            # Until the test's transaction ends; needs the superuser the test database has.
            cursor.execute("SET LOCAL session_replication_role = replica")


def raw_sql(sql: str, params: list[Any] | tuple[Any, ...] = ()) -> int:
    disable_insert_only_triggers()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def edit_metadata(chain: str, seq: int, metadata_json: str) -> None:
    raw_sql(
        "UPDATE audit_auditevent SET metadata = %s WHERE chain = %s AND seq = %s",
        [metadata_json, chain, seq],
    )


def delete_event(chain: str, seq: int) -> None:
    raw_sql("DELETE FROM audit_auditevent WHERE chain = %s AND seq = %s", [chain, seq])


def swap_events(chain: str, seq: int) -> None:
    """Exchange the positions of events ``seq`` and ``seq + 1``."""
    update = "UPDATE audit_auditevent SET seq = %s WHERE chain = %s AND seq = %s"
    raw_sql(update, [0, chain, seq])
    raw_sql(update, [seq, chain, seq + 1])
    raw_sql(update, [seq + 1, chain, 0])


def insert_event(event: AuditEvent) -> None:
    """Store ``event`` as it is, past the model's guards and the database's triggers."""
    disable_insert_only_triggers()
    unguarded: models.QuerySet[AuditEvent] = models.QuerySet(model=AuditEvent)
    unguarded.bulk_create([event])
