"""The demo seed: a team and a few hundred fake leads, written once through the services."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from heroshhi.accounts.models import User
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.demo.seed import DEMO_LEADS, DEMO_SLUG, DEMO_TEAM, demo_login, demo_seed
from heroshhi.leads.models import Lead, LeadNameToken, Note, TimelineEvent
from heroshhi.leads.selectors import leads_list, parse_lead_filters, viewer_for
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role


@pytest.fixture
def demo_var(settings: Any, tmp_path: Path) -> Path:
    settings.VAR_DIR = tmp_path  # the password file goes here, not into var/test
    return tmp_path


def _counts(workspace: Workspace) -> dict[str, int]:
    with workspace_scope(workspace):
        return {
            "users": User.objects.count(),
            "members": Membership.objects.count(),
            "leads": Lead.objects.count(),
            "tokens": LeadNameToken.objects.count(),
            "notes": Note.objects.count(),
            "timeline": TimelineEvent.objects.count(),
            "audit": AuditEvent.objects.filter(workspace_id=workspace.pk).count(),
        }


@pytest.mark.django_db
def test_seeding_twice_changes_nothing_and_the_data_is_varied(demo_var: Path) -> None:
    login = demo_seed()
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    first = _counts(workspace)

    assert demo_seed() == login == demo_login()
    assert _counts(workspace) == first
    assert first["leads"] == DEMO_LEADS
    assert first["members"] == 1 + len(DEMO_TEAM)
    assert first["notes"] > 0
    assert (demo_var / "keys" / "demo-password").stat().st_mode & 0o077 == 0
    for email, _, _ in DEMO_TEAM:
        assert User.objects.get(email=email).check_password(login.password)

    with workspace_scope(workspace):
        leads = Lead.objects.all()
        assert leads.values("stage").distinct().count() >= 4
        assert leads.values("source").distinct().count() >= 6
        owners = set(leads.values_list("owner_id", flat=True))
        assert None in owners
        assert len(owners - {None}) == 2
        assert leads.filter(tags__name="diwali-offer").exists()
        assert leads.filter(deal_value__isnull=False).exists()
        assert TimelineEvent.objects.filter(kind=TimelineEvent.Kind.ENQUIRED_AGAIN).exists()


@pytest.mark.django_db
def test_sales_see_only_their_own_leads_and_phones_are_never_stored_in_clear(
    demo_var: Path,
) -> None:
    demo_seed()
    workspace = Workspace.objects.get(slug=DEMO_SLUG)
    sales = User.objects.get(email="sales1@demo.heroshhi.test")
    with workspace_scope(workspace):
        member = Membership.objects.get(user=sales)
        viewer = viewer_for(actor=Actor.user(sales.pk, role=Role.SALES))
        own = Lead.objects.filter(owner=member, deleted_at__isnull=True).count()
        phones = [lead.phone for lead in Lead.objects.filter(phone__isnull=False)]
    assert own > 0

    seen: list[Lead] = []
    cursor = None
    while True:
        page = leads_list(
            workspace=workspace, viewer=viewer, filters=parse_lead_filters({}), after=cursor
        )
        seen.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert len(seen) == own
    assert {lead.owner_id for lead in seen} == {member.pk}

    assert phones
    assert all(phone.startswith("+9190000") for phone in phones)
    with connection.cursor() as cursor_:
        cursor_.execute("SELECT * FROM leads_lead")
        raw = "\n".join(" ".join(str(value) for value in row) for row in cursor_.fetchall())
    for phone in phones:
        national = phone.removeprefix("+91")
        assert national not in raw
        assert f"{national[:5]} {national[5:]}" not in raw
