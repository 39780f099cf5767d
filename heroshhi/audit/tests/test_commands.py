from __future__ import annotations

import io

import pytest
from django.core.management import call_command, execute_from_command_line

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.tests import tampering

pytestmark = pytest.mark.django_db


def test_audit_verify_prints_a_line_per_chain_and_succeeds_when_intact(
    record, workspace_a, workspace_b
):
    record(workspace_a)
    record(workspace_b)
    record(None, AuditAction.AUTHN_LOGIN_SUCCESS)
    out = io.StringIO()
    call_command("audit_verify", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [
        ["OK", "platform"],
        *sorted([["OK", str(workspace_a.pk)], ["OK", str(workspace_b.pk)]]),
    ]
    assert "3 audit chain(s) verified" in lines[-1]


def test_audit_verify_exits_non_zero_when_a_chain_was_tampered_with(record, workspace_a, capsys):
    record(workspace_a)
    record(workspace_a)
    tampering.edit_metadata(str(workspace_a.pk), 1, '{"n": 1}')
    with pytest.raises(SystemExit) as excinfo:
        execute_from_command_line(["manage.py", "audit_verify"])
    assert excinfo.value.code == 1
    captured = capsys.readouterr()
    assert f"FAIL  {workspace_a.pk}" in captured.out
    assert "mac_mismatch at seq 1" in captured.out


def test_audit_verify_can_check_one_workspace_or_the_platform(record, workspace_a, workspace_b):
    record(workspace_a)
    record(workspace_b)
    tampering.delete_event(str(workspace_b.pk), 1)

    out = io.StringIO()
    call_command("audit_verify", "--workspace", str(workspace_a.pk), stdout=out)
    assert out.getvalue().startswith(f"OK    {workspace_a.pk}")

    out = io.StringIO()
    call_command("audit_verify", "--platform", stdout=out)
    assert out.getvalue().startswith("OK    platform")
