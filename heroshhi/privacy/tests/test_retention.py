"""The retention engine: every rule under time travel (explicit ``now``), dry runs, the lock,
resuming after an interruption, the exempt ledger, and who sees the reports."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditCheckpoint, AuditEvent
from heroshhi.audit.verify import verify_chain
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Note, TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.trash import lead_trash
from heroshhi.messaging.models import Call, Conversation, Message, OptOutRecord
from heroshhi.privacy.models import (
    ConsentRecord,
    RetentionPolicy,
    RetentionRun,
    RetentionRunWorkspace,
)
from heroshhi.privacy.policy import retention_policy_update
from heroshhi.privacy.retention import rules
from heroshhi.privacy.retention.engine import TERMINATION_MODULE
from heroshhi.privacy.retention.rules import months_before
from heroshhi.privacy.retention.runs import RetentionLocked, retention_run
from heroshhi.privacy.tests.conftest import seed_person

DAY = timedelta(days=1)


def _lead(world, actor, name="Ravi Kumar", phone=None, workspace=None):
    return lead_create(
        workspace=workspace or world.a,
        actor=actor,
        name=name,
        phone=phone,
        email=None,
        source="manual",
    ).lead


def _ids(workspace, model):
    with workspace_scope(workspace):
        return set(model.objects.values_list("pk", flat=True))


def _ledger(workspace):
    with workspace_scope(workspace):
        return list(OptOutRecord.objects.order_by("pk").values())


# Trash (P14, P15) ---------------------------------------------------------------------------


def test_leads_trashed_30_days_ago_go_with_everything_attached(world, alice, charlie):
    person = seed_person(world, alice)
    recent = _lead(world, alice, name="Recent Lead")
    other = _lead(world, charlie, name="Beta Lead", workspace=world.b)
    now = timezone.now()
    lead_trash(workspace=world.a, actor=alice, lead=person.lead)
    lead_trash(workspace=world.b, actor=charlie, lead=other)
    # Trashed ten days later (the clock is Django's, frozen for this one call).
    with mock.patch("django.utils.timezone.now", return_value=now + 10 * DAY):
        lead_trash(workspace=world.a, actor=alice, lead=recent)

    early = retention_run(now=now + 29 * DAY)
    assert early.total(rules.RULE_TRASH) == 0
    assert person.lead.pk in _ids(world.a, Lead)

    run = retention_run(now=now + 31 * DAY)

    assert _ids(world.a, Lead) == {recent.pk}
    counts = run.results[rules.RULE_TRASH]["counts"]
    assert counts["leads.Lead"] == 2  # the person and Charlie's lead
    assert counts["messaging.Message"] == 2
    assert counts["messaging.Conversation"] == 1
    assert counts["messaging.Call"] == 1
    assert counts["leads.Note"] == 1
    assert counts["leads.Task"] == 1
    assert counts["leads.TimelineEvent"] >= 5
    assert counts["privacy.ConsentRecord"] == 1
    for model in (Message, Conversation, Call, Note, ConsentRecord):
        with workspace_scope(world.a):
            assert not model.objects.filter(lead_id=person.lead.pk).exists()
    with workspace_scope(world.a):
        assert not TimelineEvent.objects.filter(lead_id=person.lead.pk).exists()


def test_trash_purge_is_recorded_per_workspace_and_audited(world, alice, charlie):
    mine = _lead(world, alice)
    theirs = _lead(world, charlie, workspace=world.b)
    lead_trash(workspace=world.a, actor=alice, lead=mine)
    lead_trash(workspace=world.b, actor=charlie, lead=theirs)

    run = retention_run(now=timezone.now() + 31 * DAY)

    with workspace_scope(world.a):
        part = RetentionRunWorkspace.objects.get(run=run)
        assert part.counts[rules.RULE_TRASH]["leads.Lead"] == 1
        event = AuditEvent.objects.filter(workspace=world.a, action="retention_run").latest("seq")
    assert event.metadata["counts"][rules.RULE_TRASH]["leads.Lead"] == 1
    assert event.target_id == str(run.pk)
    assert AuditEvent.objects.filter(
        workspace=world.a, action="data_delete", reason="retention"
    ).exists()
    assert AuditEvent.objects.filter(workspace=None, action="retention_run").exists()


# Owners' policies (P07) -----------------------------------------------------------------


def test_messages_older_than_the_policy_are_deleted_and_conversations_stay(world, alice):
    person = seed_person(world, alice)
    retention_policy_update(
        workspace=world.a,
        actor=alice,
        delete_messages_after_days=30,
        trash_inactive_leads_after_months=None,
    )
    now = timezone.now()

    assert retention_run(now=now + 29 * DAY).total(rules.RULE_MESSAGES) == 0
    assert len(_ids(world.a, Message)) == 2

    run = retention_run(now=now + 31 * DAY)

    assert run.results[rules.RULE_MESSAGES]["counts"] == {"messaging.Message": 2}
    assert _ids(world.a, Message) == set()
    assert _ids(world.a, Conversation) == {person.conversation.pk}
    assert person.lead.pk in _ids(world.a, Lead)


def test_inactive_leads_move_to_the_trash_with_timeline_and_audit_then_leave(world, alice, charlie):
    idle = _lead(world, alice, name="Idle Lead")
    retention_policy_update(
        workspace=world.a,
        actor=alice,
        delete_messages_after_days=None,
        trash_inactive_leads_after_months=3,
    )
    # Charlie keeps everything: his idle lead stays.
    theirs = _lead(world, charlie, workspace=world.b)
    now = timezone.now()

    assert retention_run(now=now + 80 * DAY).total(rules.RULE_INACTIVE) == 0
    moved_at = now + 100 * DAY
    run = retention_run(now=moved_at)

    assert run.results[rules.RULE_INACTIVE]["counts"] == {"leads.Lead": 1}
    with workspace_scope(world.a):
        idle.refresh_from_db()
        assert idle.deleted_at == moved_at
        event = TimelineEvent.objects.filter(lead=idle).latest("created_at")
        assert event.kind == TimelineEvent.Kind.DELETED
        assert event.data == {"reason": "retention", "inactive_months": 3}
    assert AuditEvent.objects.filter(
        workspace=world.a, action="lead_deleted", target_id=str(idle.pk), reason="retention"
    ).exists()
    with workspace_scope(world.b):
        theirs.refresh_from_db()
        assert theirs.deleted_at is None
    # Restorable for 30 days, then the trash rule removes it.
    retention_run(now=moved_at + 31 * DAY)
    assert idle.pk not in _ids(world.a, Lead)


def test_the_policy_is_owner_only_validated_and_audited(world, alice, bob):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(PermissionDenied):
        retention_policy_update(
            workspace=world.a,
            actor=bob,
            delete_messages_after_days=90,
            trash_inactive_leads_after_months=None,
        )
    with pytest.raises(ValidationError) as error:
        retention_policy_update(
            workspace=world.a,
            actor=alice,
            delete_messages_after_days=2,
            trash_inactive_leads_after_months="soon",
        )
    assert set(error.value.message_dict) == {
        "delete_messages_after_days",
        "trash_inactive_leads_after_months",
    }
    with workspace_scope(world.a):
        assert not RetentionPolicy.objects.exists()
    retention_policy_update(
        workspace=world.a,
        actor=alice,
        delete_messages_after_days="90",
        trash_inactive_leads_after_months=None,
    )
    event = AuditEvent.objects.filter(workspace=world.a, reason="policy_updated").get()
    assert event.metadata["after"] == {
        "delete_messages_after_days": 90,
        "trash_inactive_leads_after_months": None,
    }


def test_months_are_calendar_months():
    at = timezone.now().replace(year=2026, month=3, day=31, hour=12)
    assert months_before(at, 1).date().isoformat() == "2026-02-28"
    assert months_before(at, 3).date().isoformat() == "2025-12-31"
    assert months_before(at, 14).date().isoformat() == "2025-01-31"


# Audit (P05, P16) -----------------------------------------------------------------------


def test_audit_events_older_than_a_year_are_purged_and_the_chain_still_verifies(world, alice):
    _lead(world, alice)
    chain = str(world.a.pk)
    before = AuditEvent.objects.filter(chain=chain).count()
    assert before > 0

    assert retention_run(now=timezone.now() + 364 * DAY).total(rules.RULE_AUDIT) == 0
    run = retention_run(now=timezone.now() + 366 * DAY)

    assert run.results[rules.RULE_AUDIT]["counts"]["audit.AuditEvent"] >= before
    assert AuditCheckpoint.objects.filter(chain=chain).exists()
    assert verify_chain(chain).ok
    with workspace_scope(world.a):
        part = RetentionRunWorkspace.objects.get(run=run)
    assert part.counts[rules.RULE_AUDIT]["audit.AuditEvent"] >= before


# Exempt: the opt-out ledger (P18) ------------------------------------------------------------


def test_no_run_ever_touches_the_opt_out_ledger(world, alice):
    person = seed_person(world, alice)
    retention_policy_update(
        workspace=world.a,
        actor=alice,
        delete_messages_after_days=30,
        trash_inactive_leads_after_months=3,
    )
    ledger = _ledger(world.a)
    assert len(ledger) == 1

    now = timezone.now()
    retention_run(now=now + 200 * DAY)  # inactive → trash, messages deleted
    retention_run(now=now + 400 * DAY)  # trash purged, audit purged

    assert person.lead.pk not in _ids(world.a, Lead)
    assert _ledger(world.a) == ledger
    assert "messaging.OptOutRecord" in rules.EXEMPT


# Dry runs, the lock, resuming -------------------------------------------------------------


def test_a_dry_run_changes_nothing_and_reports_what_would_go(world, alice):
    seed_person(world, alice)
    old = _lead(world, alice, name="Old Lead")
    note_add(workspace=world.a, actor=alice, lead=old, body="Call back")
    lead_trash(workspace=world.a, actor=alice, lead=old)
    retention_policy_update(
        workspace=world.a,
        actor=alice,
        delete_messages_after_days=30,
        trash_inactive_leads_after_months=None,
    )
    at = timezone.now() + 31 * DAY
    leads, messages = _ids(world.a, Lead), _ids(world.a, Message)
    events = AuditEvent.objects.count()

    dry = retention_run(now=at, dry_run=True)

    assert dry.dry_run
    assert dry.holds_lock is None
    assert _ids(world.a, Lead) == leads
    assert _ids(world.a, Message) == messages
    assert AuditEvent.objects.count() == events
    trash = dry.results[rules.RULE_TRASH]["counts"]
    assert trash["leads.Lead"] == 1
    assert trash["leads.Note"] == 1
    assert dry.results[rules.RULE_MESSAGES]["counts"] == {"messaging.Message": 2}

    real = retention_run(now=at)
    assert real.results[rules.RULE_TRASH]["counts"]["leads.Lead"] == 1
    assert real.results[rules.RULE_TRASH]["counts"]["leads.Note"] == 1
    assert real.results[rules.RULE_MESSAGES]["counts"] == {"messaging.Message": 2}
    # Re-running is safe: nothing is left to do.
    again = retention_run(now=at)
    assert all(again.total(rule) == 0 for rule in rules.RULES)


def test_a_run_stopped_midway_is_finished_by_the_next(world, alice):
    leads = [_lead(world, alice, name=f"Lead {n}") for n in range(3)]
    for lead in leads:
        lead_trash(workspace=world.a, actor=alice, lead=lead)
    at = timezone.now() + 31 * DAY

    first = retention_run(now=at, workspace=world.a, batch_size=1, max_batches=1)

    assert first.status == RetentionRun.Status.INCOMPLETE
    assert first.results[rules.RULE_TRASH]["counts"]["leads.Lead"] == 1
    assert len(_ids(world.a, Lead)) == 2

    second = retention_run(now=at, workspace=world.a, batch_size=1)
    assert second.status == RetentionRun.Status.FINISHED
    assert second.results[rules.RULE_TRASH]["counts"]["leads.Lead"] == 2
    assert _ids(world.a, Lead) == set()


def test_a_crashed_run_is_taken_over_and_a_live_one_blocks(world):
    now = timezone.now()
    crashed = RetentionRun.objects.create(
        trigger=RetentionRun.Trigger.SCHEDULE,
        as_of=now,
        holds_lock=True,
        heartbeat_at=now - timedelta(hours=1),
    )

    run = retention_run(now=now)

    crashed.refresh_from_db()
    assert crashed.status == RetentionRun.Status.INTERRUPTED
    assert crashed.holds_lock is None
    assert run.resumed_from_id == crashed.pk
    assert run.status == RetentionRun.Status.FINISHED

    RetentionRun.objects.create(
        trigger=RetentionRun.Trigger.SCHEDULE, as_of=now, holds_lock=True, heartbeat_at=now
    )
    with pytest.raises(RetentionLocked):
        retention_run(now=now)
    # A dry run needs no lock.
    assert retention_run(now=now, dry_run=True).status == RetentionRun.Status.FINISHED


def test_terminated_workspaces_are_deleted_30_days_after_termination(world, alice, charlie):
    termination = pytest.importorskip(TERMINATION_MODULE)
    seed_person(world, alice)  # Alice's workspace stays as it is
    theirs = _lead(world, charlie, phone="+919811122233", workspace=world.b)
    from heroshhi.messaging import optout

    optout.lead_opt_out(workspace=world.b, actor=charlie, lead=theirs, method="manual")
    ledger = _ledger(world.b)
    now = timezone.now()
    termination.workspace_termination_request(workspace=world.b, actor=charlie, now=now)

    early = retention_run(now=now + 29 * DAY)
    assert early.total(rules.RULE_TERMINATED) == 0
    assert theirs.pk in _ids(world.b, Lead)
    dry = retention_run(now=now + 31 * DAY, dry_run=True)
    assert dry.results[rules.RULE_TERMINATED]["counts"] == {"workspaces.Workspace": 1}
    assert theirs.pk in _ids(world.b, Lead)

    run = retention_run(now=now + 31 * DAY)

    result = run.results[rules.RULE_TERMINATED]
    assert result["counts"] == {"workspaces.Workspace": 1}
    assert result["workspaces"][str(world.b.pk)]["leads.Lead"] == 1
    assert _ids(world.b, Lead) == set()
    assert _ledger(world.b) == ledger  # the ledger outlives the workspace
    assert len(_ids(world.a, Lead)) == 1
    again = retention_run(now=now + 32 * DAY)
    assert again.total(rules.RULE_TERMINATED) == 0


def test_platform_rules_are_skipped_in_a_one_workspace_run(world):
    limited = retention_run(now=timezone.now(), workspace=world.a)
    assert limited.results[rules.RULE_TERMINATED]["skipped"] == "workspace_run"
    assert limited.results[rules.RULE_AUDIT]["skipped"] == "workspace_run"


# The command and the task ---------------------------------------------------------------


def test_the_command_reports_counts_and_refuses_bad_input(world, alice):
    lead = _lead(world, alice)
    lead_trash(workspace=world.a, actor=alice, lead=lead)
    out = StringIO()
    call_command("retention_run", "--dry-run", "--workspace", world.a.slug, stdout=out)
    text = out.getvalue()
    assert "DRY RUN" in text
    assert "trash" in text
    assert lead.pk in _ids(world.a, Lead)
    with pytest.raises(CommandError):
        call_command("retention_run", "--workspace", "no-such-workspace")
    with pytest.raises(CommandError):
        call_command("retention_run", "--max-batches", "0")


def test_the_daily_task_runs_and_skips_while_locked(world):
    from heroshhi.privacy.tasks import retention_run_daily

    result = retention_run_daily()
    assert result["status"] == RetentionRun.Status.FINISHED
    assert RetentionRun.objects.get(pk=result["run"]).trigger == RetentionRun.Trigger.SCHEDULE
    RetentionRun.objects.create(
        trigger=RetentionRun.Trigger.COMMAND, as_of=timezone.now(), holds_lock=True
    )
    assert retention_run_daily() == {"skipped": "locked"}


# Who sees the reports ---------------------------------------------------------------------


def test_owners_see_their_own_reports_only(client, world, alice, charlie):
    mine = _lead(world, alice)
    lead_trash(workspace=world.a, actor=alice, lead=mine)
    run = retention_run(now=timezone.now() + 31 * DAY)
    url_a = reverse("privacy:retention", kwargs={"slug": world.a.slug})
    url_b = reverse("privacy:retention", kwargs={"slug": world.b.slug})

    client.login(email=world.alice.email, password=PASSWORD)
    page = client.get(url_a)
    assert page.status_code == 200
    assert str(run.pk).encode() in page.content
    assert b"leads.Lead 1" in page.content

    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(url_a).status_code == 404
    own = client.get(url_b)
    assert own.status_code == 200
    assert str(run.pk).encode() not in own.content

    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(url_a).status_code == 403


def test_platform_staff_see_every_run_and_nobody_else_does(client, world, staff_client):
    run = retention_run(now=timezone.now())
    url = reverse("platform_privacy:overview")
    page = staff_client.get(url)
    assert page.status_code == 200
    assert str(run.pk).encode() in page.content
    staff_client.logout()
    staff_client.login(email=world.alice.email, password=PASSWORD)
    assert staff_client.get(url).status_code == 404


def test_the_settings_page_saves_and_shows_errors(client, world):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse("privacy:retention", kwargs={"slug": world.a.slug})
    bad = client.post(url, {"delete_messages_after_days": "5"})
    assert bad.status_code == 400
    assert b"from 30 to 3650" in bad.content
    good = client.post(url, {"delete_messages_after_days": "365"})
    assert good.status_code == 302
    with workspace_scope(world.a):
        saved = RetentionPolicy.objects.get()
    assert saved.delete_messages_after_days == 365
    assert saved.trash_inactive_leads_after_months is None
