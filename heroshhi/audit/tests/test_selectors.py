from __future__ import annotations

import pytest

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.selectors import audit_events_for_workspace, audit_events_platform

pytestmark = pytest.mark.django_db


def test_workspace_events_come_newest_first_in_keyset_pages(
    record, workspace_a, django_assert_num_queries
):
    for _ in range(5):
        record(workspace_a)
    with django_assert_num_queries(1):
        first = audit_events_for_workspace(workspace_a, limit=2)
    second = audit_events_for_workspace(workspace_a, before_seq=first[-1].seq, limit=2)
    last = audit_events_for_workspace(workspace_a, before_seq=second[-1].seq, limit=2)
    assert [e.seq for e in first + second + last] == [5, 4, 3, 2, 1]


def test_one_workspace_never_sees_another_workspaces_or_platform_events(
    record, workspace_a, workspace_b
):
    record(workspace_a)
    record(None, AuditAction.AUTHN_LOGIN_SUCCESS)
    assert audit_events_for_workspace(workspace_b) == []


def test_platform_events_are_listed_separately(record, workspace_a):
    record(workspace_a)
    login = record(None, AuditAction.AUTHN_LOGIN_SUCCESS)
    assert audit_events_platform() == [login]


def test_page_size_is_capped(record, workspace_a):
    for _ in range(3):
        record(workspace_a)
    assert len(audit_events_for_workspace(workspace_a, limit=0)) == 1
    assert len(audit_events_for_workspace(workspace_a, limit=10_000)) == 3
