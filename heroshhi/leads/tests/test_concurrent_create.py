"""Concurrent creates in one workspace, on real threads with their own connections:
nobody's turn is lost or doubled, and one phone number still makes one lead. Row locks
and concurrent writers need PostgreSQL:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/test REDIS_URL=redis://127.0.0.1:6379/0 \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/1 \\
    .venv/bin/pytest -n 0 -q heroshhi/leads/tests/test_concurrent_create.py
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from conftest import PASSWORD
from heroshhi.accounts.services import user_create
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.assignment import round_robin_position
from heroshhi.leads.models import AssignmentSettings, Lead
from heroshhi.leads.services.assignment import assignment_settings_update
from heroshhi.leads.services.leads import lead_create
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql",
        reason="concurrent writers need PostgreSQL; run with DATABASE_URL=postgres://…",
    ),
]


def _all_at_once[T](count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` on ``count`` threads released together; each thread uses
    (and closes) its own database connection."""
    start = threading.Barrier(count)

    def run(n: int) -> T:
        try:
            start.wait()
            return work(n)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_concurrent_creates_give_fifty_leads_in_fair_round_robin_turns(
    world, alice, bob_member, make_lead
):
    # A workspace in use: its keys and stages exist, so nothing is created on first use.
    make_lead(owner=bob_member)
    members = [bob_member] + [
        membership_create(
            workspace=world.a,
            user=user_create(email=f"sales{n}@a.example", password=PASSWORD, full_name="S"),
            role=Role.SALES,
        )
        for n in range(2)
    ]
    assignment_settings_update(
        workspace=world.a,
        actor=alice,
        mode=AssignmentSettings.Mode.ROUND_ROBIN,
        sales_see_unassigned_pool=False,
        source_members={},
    )

    results = _all_at_once(
        50,
        lambda n: lead_create(
            workspace=world.a,
            actor=alice,
            name=f"Lead {n}",
            phone=f"+9198765{n:05d}",
            email=None,
            source="api",
        ),
    )

    assert all(result.created for result in results)
    with workspace_scope(world.a):
        assert Lead.objects.count() == 51
        shares = Counter(Lead.objects.filter(source="api").values_list("owner_id", flat=True))
    assert sum(shares.values()) == 50
    assert round_robin_position(workspace=world.a) == 50
    assert set(shares) == {member.pk for member in members}
    assert max(shares.values()) - min(shares.values()) <= 1


def test_twenty_concurrent_creates_of_one_phone_give_one_lead(world, alice, make_lead):
    # A workspace in use: its keys and stages exist, so nothing is created on first use.
    earlier = make_lead(phone="+91 91234 56789")
    results = _all_at_once(
        20,
        lambda n: lead_create(
            workspace=world.a,
            actor=alice,
            name=f"Caller {n}",
            phone="+91 98765 43210",
            email=None,
            source="api",
        ),
    )

    with workspace_scope(world.a):
        assert Lead.objects.count() == 2
        lead = Lead.objects.exclude(pk=earlier.pk).get()
    assert [result.created for result in results].count(True) == 1
    assert {result.lead.pk for result in results} == {lead.pk}
