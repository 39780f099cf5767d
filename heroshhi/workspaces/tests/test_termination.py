"""Terminating a workspace (P17): sending stops at once, 30 days of grace with cancel, then
every row but the opt-out ledger is deleted and the keys are destroyed (crypto-shredding)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.apps import apps
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.accounts.services import api_key_create
from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.crypto import DecryptionError, decrypt_value
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tenancy import WorkspaceOwned, workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.leads.services.tasks import task_create
from heroshhi.messaging import delivery, optout, sending
from heroshhi.messaging.models import Message
from heroshhi.whatsapp.tests import conftest as messaging_fixtures
from heroshhi.workspaces import termination
from heroshhi.workspaces.export_files import workspace_exports_dir
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

# The messaging package's fixtures: a live channel in A (registered in the simulator) and a
# lead with a phone number.
make_wa_channel = messaging_fixtures.make_wa_channel
wa_channel = messaging_fixtures.wa_channel
make_wa_lead = messaging_fixtures.make_wa_lead
open_window = messaging_fixtures.open_window

GRACE = termination.GRACE_PERIOD


@pytest.fixture
def alice(world) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


@pytest.fixture
def charlie(world) -> Actor:
    return Actor.user(world.charlie.pk, role=Role.OWNER)


@contextmanager
def days_later(days: float) -> Iterator[None]:
    """A frozen clock ``days`` from now (the trash purge tests travel the same way)."""
    then = timezone.now() + timedelta(days=days)
    with mock.patch("django.utils.timezone.now", return_value=then):
        yield


def _terminate(world, alice) -> Workspace:
    return termination.workspace_termination_request(workspace=world.a, actor=alice)


def _rows_of(workspace: Workspace) -> dict[str, int]:
    counts = {}
    for model in apps.get_models():
        if issubclass(model, WorkspaceOwned):
            n = model.objects.unscoped().filter(workspace=workspace).count()
            if n:
                counts[model._meta.label] = n
    return counts


def _seed(world, actor, **lead) -> Lead:
    created = lead_create(
        workspace=world.a,
        actor=actor,
        name=lead.get("name", "Priya Sharma"),
        phone=lead.get("phone", "+919876543210"),
        email=lead.get("email", "priya@example.in"),
        source="manual",
    ).lead
    note_add(workspace=world.a, actor=actor, lead=created, body="Wants the blue one")
    task_create(
        workspace=world.a,
        actor=actor,
        lead=created,
        title="Call back",
        due_at=timezone.now() + timedelta(days=1),
    )
    return created


# --- Request and cancel ------------------------------------------------------------------


def test_a_request_starts_the_grace_period_and_is_audited_on_both_chains(world, alice):
    _terminate(world, alice)

    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.TERMINATING
    due = termination.deletion_due_at(world.a)
    assert due is not None
    assert due - timezone.now() > GRACE - timedelta(minutes=1)
    chains = set(
        AuditEvent.objects.filter(action="workspace_terminated").values_list("chain", flat=True)
    )
    assert chains == {str(world.a.pk), PLATFORM_CHAIN}


def test_only_owners_may_terminate(world):
    bob = Actor.user(world.bob.pk, role=Role.SALES)
    with pytest.raises(PermissionDenied):
        termination.workspace_termination_request(workspace=world.a, actor=bob)
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE


def test_terminating_twice_is_a_clear_error_that_changes_nothing(world, alice):
    _terminate(world, alice)
    world.a.refresh_from_db()
    first = world.a.termination_requested_at

    with pytest.raises(termination.AlreadyTerminating):
        _terminate(world, alice)

    world.a.refresh_from_db()
    assert world.a.termination_requested_at == first
    assert AuditEvent.objects.filter(action="workspace_terminated").count() == 2  # both chains


def test_cancel_within_the_grace_period_makes_the_workspace_active_again(world, alice):
    _terminate(world, alice)
    with days_later(29):
        termination.workspace_termination_cancel(workspace=world.a, actor=alice)

    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE
    assert world.a.termination_requested_at is None
    cancel = AuditEvent.objects.get(chain=str(world.a.pk), action="workspace_reactivated")
    assert cancel.metadata == {"reason": "termination_cancelled"}
    assert termination.terminations_due(now=timezone.now() + 2 * GRACE) == []


def test_cancel_after_the_grace_period_is_refused(world, alice):
    _terminate(world, alice)
    with days_later(30), pytest.raises(termination.GraceOver):
        termination.workspace_termination_cancel(workspace=world.a, actor=alice)
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.TERMINATING


def test_cancel_without_a_termination_is_refused(world, alice):
    with pytest.raises(termination.NotTerminating):
        termination.workspace_termination_cancel(workspace=world.a, actor=alice)


# --- Sending and API keys while terminating ---------------------------------------------------


def test_every_send_is_refused_while_terminating_and_works_again_after_cancel(
    world, alice, wa_simulator, wa_channel, make_wa_lead
):
    lead = make_wa_lead()
    open_window(wa_simulator, wa_channel, lead)
    _terminate(world, alice)

    with pytest.raises(sending.SendRefused) as refused:
        sending.send_text(workspace=world.a, actor=alice, lead=lead, text="Hello")
    assert refused.value.code == "workspace_suspended"
    with pytest.raises(sending.SendRefused) as refused:
        sending.send_template(
            workspace=world.a,
            actor=alice,
            lead=lead,
            template_name="hello_world",
            language="en_US",
            variables=[],
        )
    assert refused.value.code == "workspace_suspended"
    with workspace_scope(world.a):
        assert not Message.objects.filter(direction="out").exists()
    assert (
        AuditEvent.objects.filter(action="message_refused", reason="workspace_suspended").count()
        == 2
    )

    termination.workspace_termination_cancel(workspace=world.a, actor=alice)
    message = sending.send_text(workspace=world.a, actor=alice, lead=lead, text="Hello again")
    assert delivery.deliver(str(message.pk)).outcome == "accepted"


def test_a_message_queued_before_the_request_is_not_delivered(
    world, alice, wa_simulator, wa_channel, make_wa_lead
):
    lead = make_wa_lead()
    open_window(wa_simulator, wa_channel, lead)
    message = sending.send_text(workspace=world.a, actor=alice, lead=lead, text="Queued")
    _terminate(world, alice)

    assert delivery.deliver(str(message.pk)).outcome == "failed"
    with workspace_scope(world.a):
        message.refresh_from_db()
    assert message.status == Message.Status.FAILED
    assert message.error_reason == delivery.REASON_WORKSPACE_SUSPENDED
    assert wa_simulator.outbox() == []


def test_the_workspace_is_read_only_while_terminating_except_export_cancel_and_privacy(
    client, world, alice
):
    lead = lead_create(
        workspace=world.a, actor=alice, name="Asha", phone=None, email=None, source="manual"
    ).lead
    _terminate(world, alice)
    client.login(email=world.alice.email, password=PASSWORD)
    slug = world.a.slug

    leads_page = client.get(reverse("leads:list", kwargs={"slug": slug}))
    created = client.post(reverse("leads:create", kwargs={"slug": slug}), {"name": "New one"})
    noted = client.post(
        reverse("leads:note_add", kwargs={"slug": slug, "lead_id": lead.pk}),
        {"body": "A note"},
        HTTP_HX_REQUEST="true",
    )
    privacy = client.post(
        reverse("privacy:request_new", kwargs={"slug": slug}),
        {"type": "access", "lead": str(lead.pk), "channel": "email"},
    )
    exported = client.post(reverse("workspaces:export_start", kwargs={"slug": slug}))

    assert leads_page.status_code == 200
    assert b"it is read-only" in leads_page.content
    assert created.status_code == 403
    assert b"This workspace is being terminated" in created.content
    assert noted.status_code == 403
    assert noted["HX-Refresh"] == "true"
    with workspace_scope(world.a):
        assert Lead.objects.count() == 1
        assert not lead.notes.exists()
    assert privacy.status_code != 403
    assert exported.status_code != 403

    # The cancel page is reachable (it asks for the password before it cancels).
    assert (
        client.post(reverse("workspaces:terminate_cancel", kwargs={"slug": slug})).status_code
        != 403
    )
    termination.workspace_termination_cancel(workspace=world.a, actor=alice)
    again = client.post(reverse("leads:create", kwargs={"slug": slug}), {"name": "New one"})
    assert again.status_code != 403


def test_api_keys_are_refused_while_terminating_and_work_after_cancel(client, world, alice):
    key = api_key_create(
        workspace=world.a, actor=alice, created_by=world.alice, name="zapier", role=Role.OWNER
    ).plaintext
    auth = {"HTTP_AUTHORIZATION": f"Bearer {key}"}
    _terminate(world, alice)

    response = client.get("/api/v1/me", **auth)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "workspace_terminating"

    termination.workspace_termination_cancel(workspace=world.a, actor=alice)
    assert client.get("/api/v1/me", **auth).status_code == 200


# --- Day 30: deletion and crypto-shredding -----------------------------------------------


def test_terminations_due_lists_only_workspaces_past_their_30_days(world, alice, charlie):
    _terminate(world, alice)
    with days_later(10):
        termination.workspace_termination_request(workspace=world.b, actor=charlie)

    assert termination.terminations_due() == []
    assert termination.terminations_due(now=timezone.now() + GRACE) == [world.a]
    assert set(termination.terminations_due(now=timezone.now() + GRACE + timedelta(days=10))) == {
        world.a,
        world.b,
    }


def test_deletion_before_day_30_is_refused_and_deletes_nothing(world, alice):
    _seed(world, alice)
    _terminate(world, alice)
    before = _rows_of(world.a)

    with days_later(29), pytest.raises(termination.NotDue):
        termination.workspace_delete_terminated(workspace=world.a)
    with pytest.raises(termination.NotTerminating):
        termination.workspace_delete_terminated(workspace=world.b)
    assert _rows_of(world.a) == before


def test_day_30_deletes_every_row_but_the_ledger_and_shreds_the_keys(
    world, alice, charlie, wa_simulator, wa_channel, make_wa_lead
):
    lead = make_wa_lead()
    _seed(world, alice, name="Rahul Verma", phone="+919812345678")
    open_window(wa_simulator, wa_channel, lead)
    sending.send_text(workspace=world.a, actor=alice, lead=lead, text="Your quote is ready")
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=lead)
    charlie_lead = lead_create(
        workspace=world.b,
        actor=charlie,
        name="Beta Lead",
        phone="+919800000001",
        email=None,
        source="manual",
    ).lead
    charlie_before = _rows_of(world.b)
    # A raw copy of one ciphertext, as a backup or replica would keep it.
    with workspace_scope(world.a):
        stored = Lead.objects.filter(pk=lead.pk).values_list("phone", flat=True).get()
    context = Lead._meta.get_field("phone").context_for(lead)
    assert decrypt_value(str(stored), context=context) == b"+919876543210"
    workspace_exports_dir(world.a).mkdir(parents=True, exist_ok=True)
    (workspace_exports_dir(world.a) / "leftover.zip").write_bytes(b"zip")
    _terminate(world, alice)

    with days_later(30):
        due = termination.terminations_due()
        assert due == [world.a]
        counts = termination.workspace_delete_terminated(workspace=world.a, batch_size=2)

    assert _rows_of(world.a) == {"messaging.OptOutRecord": 1}
    assert counts["leads.Lead"] == 2
    assert counts["workspaces.Membership"] == 2
    assert counts["messaging.Message"] >= 1
    assert counts["whatsapp.WhatsAppChannel"] == 1
    assert not WorkspaceKey.objects.filter(workspace=world.a).exists()
    with pytest.raises(DecryptionError):
        decrypt_value(str(stored), context=context)
    assert not workspace_exports_dir(world.a).exists()

    tombstone = Workspace.objects.get(pk=world.a.pk)
    assert tombstone.status == Workspace.Status.TERMINATED
    assert tombstone.name == termination.TOMBSTONE_NAME
    assert "alpha" not in tombstone.slug
    assert tombstone.terminated_at is not None
    deletion = AuditEvent.objects.get(chain=PLATFORM_CHAIN, action="data_delete")
    assert deletion.metadata["rows"] == counts
    assert AuditEvent.objects.filter(
        chain=PLATFORM_CHAIN, action="workspace_keys_destroyed"
    ).exists()

    # Charlie's workspace is untouched, and so are his keys.
    assert _rows_of(world.b) == charlie_before
    with workspace_scope(world.b):
        assert Lead.objects.get(pk=charlie_lead.pk).phone == "+919800000001"
    assert Membership.objects.unscoped().filter(workspace=world.b, user=world.charlie).exists()


def test_deleting_twice_does_nothing_more(world, alice):
    _seed(world, alice)
    _terminate(world, alice)
    with days_later(31):
        first = termination.workspace_delete_terminated(workspace=world.a)
        second = termination.workspace_delete_terminated(workspace=world.a)
    assert first["leads.Lead"] == 1
    assert second == {}
    assert AuditEvent.objects.filter(chain=PLATFORM_CHAIN, action="data_delete").count() == 1


def test_an_interrupted_deletion_resumes_where_it_stopped(world, alice):
    for n in range(3):
        _seed(world, alice, phone=f"+9198765432{n:02d}", email=f"p{n}@example.in")
    _terminate(world, alice)
    # What a worker lost half-way leaves behind: the first tables in the order are gone,
    # the rest is there, the workspace is still terminating (nothing is committed at the end).
    order = termination.deletion_order(termination._tenant_models())
    done = order[: order.index(apps.get_model("leads.Lead"))]
    for model in done:
        model._base_manager.filter(workspace=world.a).delete()
    assert "leads.Note" not in _rows_of(world.a)

    with days_later(31):
        assert termination.terminations_due() == [world.a]
        counts = termination.workspace_delete_terminated(workspace=world.a)
    assert counts["leads.Lead"] == 3
    assert "leads.Note" not in counts
    assert _rows_of(world.a) == {}
    assert Workspace.objects.get(pk=world.a.pk).status == Workspace.Status.TERMINATED


def test_children_are_deleted_before_their_parents():
    order = [m._meta.label for m in termination.deletion_order(termination._tenant_models())]
    assert order.index("leads.Note") < order.index("leads.Lead") < order.index("leads.Stage")
    assert order.index("messaging.Message") < order.index("messaging.Conversation")
    assert order.index("messaging.Conversation") < order.index("whatsapp.WhatsAppChannel")
    assert order.index("leads.Lead") < order.index("workspaces.Membership")
    assert "messaging.OptOutRecord" not in order


# --- The danger zone page ----------------------------------------------------------------


def _url(world, name: str) -> str:
    return reverse(f"workspaces:{name}", kwargs={"slug": world.a.slug})


def test_the_danger_zone_is_for_owners_only(client, world):
    client.login(email=world.bob.email, password=PASSWORD)
    assert client.get(_url(world, "danger_zone")).status_code == 403
    client.login(email=world.alice.email, password=PASSWORD)
    page = client.get(_url(world, "danger_zone"))
    assert page.status_code == 200
    assert b"Danger zone" in page.content


def test_terminating_from_the_page_needs_the_password_and_the_address(client, world):
    client.login(email=world.alice.email, password=PASSWORD)
    wrong = client.post(
        _url(world, "terminate"),
        {"terminate-password": "not it", "terminate-confirm": world.a.slug},
    )
    assert wrong.status_code == 400
    mistyped = client.post(
        _url(world, "terminate"), {"terminate-password": PASSWORD, "terminate-confirm": "alph"}
    )
    assert mistyped.status_code == 400
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE

    done = client.post(
        _url(world, "terminate"),
        {"terminate-password": PASSWORD, "terminate-confirm": world.a.slug},
    )
    assert done.status_code == 302
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.TERMINATING
    page = client.get(_url(world, "danger_zone"))
    assert b"Cancel the termination" in page.content
    assert b"being terminated" in page.content

    again = client.post(
        _url(world, "terminate"),
        {"terminate-password": PASSWORD, "terminate-confirm": world.a.slug},
    )
    assert again.status_code == 409
    assert b"already being terminated" in again.content

    cancelled = client.post(_url(world, "terminate_cancel"), {"cancel-password": PASSWORD})
    assert cancelled.status_code == 302
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE
