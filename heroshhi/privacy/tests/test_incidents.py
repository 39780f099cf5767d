"""The incident register (P24, P28): clocks from detection, notices, sealed descriptions,
affected workspaces and leads, staff-only pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.trash import lead_trash
from heroshhi.privacy import incidents
from heroshhi.privacy.models import Incident, IncidentNotice

HOUR = timedelta(hours=1)
SECRET_DETAIL = "Backup bucket of host db-3 was public; Priya's export was in it"


def _record(operator, world, **overrides):
    values = {
        "actor": operator,
        "title": "Public backup bucket",
        "description": SECRET_DETAIL,
        "detected_at": timezone.now() - 2 * HOUR,
        "severity": "high",
        "workspaces": [world.a],
    }
    values.update(overrides)
    return incidents.incident_record(**values)


def test_the_clocks_start_at_detection(world, operator):
    detected = timezone.now() - 7 * HOUR
    incident = _record(operator, world, detected_at=detected)

    due = {notice.kind: notice.due_at for notice in incident.notices.all()}
    assert due == {
        "cert_in": detected + 6 * HOUR,
        "authority": detected + 72 * HOUR,
        "customers": detected + 24 * HOUR,
    }
    clocks = {clock.notice.kind: clock for clock in incidents.notice_clocks(incident)}
    assert clocks["cert_in"].overdue
    assert not clocks["authority"].overdue
    assert clocks["authority"].remaining is not None
    assert clocks["authority"].remaining <= 65 * HOUR

    incidents.incident_notice_sent(
        actor=operator, incident=incident, kind="authority", reference="DPB-ACK-0042"
    )
    clocks = {clock.notice.kind: clock for clock in incidents.notice_clocks(incident)}
    assert clocks["authority"].notice.sent_at is not None
    assert clocks["authority"].remaining is None
    with pytest.raises(ValidationError):
        incidents.incident_notice_sent(actor=operator, incident=incident, kind="authority")
    event = AuditEvent.objects.filter(workspace=None, reason="incident_notice_sent").get()
    assert event.metadata == {"reference": incident.reference, "kind": "authority", "late": False}


def test_the_description_is_sealed_and_the_title_must_not_name_anyone(world, operator):
    incident = _record(operator, world)
    stored = Incident.objects.values_list("description_sealed", flat=True).get(pk=incident.pk)
    assert "Priya" not in stored
    assert incidents.incident_description(incident) == SECRET_DETAIL
    with pytest.raises(ValidationError) as error:
        _record(operator, world, title="Leak of +91 98123 45678")
    assert "title" in error.value.message_dict
    with pytest.raises(ValidationError):
        _record(operator, world, detected_at=timezone.now() + 2 * HOUR)
    assert Incident.objects.count() == 1


def test_only_platform_staff_manage_incidents(world, alice, operator):
    with pytest.raises(PermissionDenied):
        _record(alice, world)
    incident = _record(operator, world)
    with pytest.raises(PermissionDenied):
        incidents.incident_update(actor=alice, incident=incident, status="closed")
    closed = incidents.incident_update(actor=operator, incident=incident, status="closed")
    assert closed.closed_at is not None


def test_affected_leads_follow_the_exposure_window(world, alice, charlie, operator):
    before_any = timezone.now() - timedelta(seconds=1)
    lead_create(
        workspace=world.a, actor=alice, name="Early", phone=None, email=None, source="manual"
    )
    gone = lead_create(
        workspace=world.a, actor=alice, name="Gone", phone=None, email=None, source="manual"
    ).lead
    lead_trash(workspace=world.a, actor=alice, lead=gone)
    after_trash = timezone.now()
    lead_create(workspace=world.b, actor=charlie, name="B", phone=None, email=None, source="manual")

    everything = _record(operator, world)
    assert incidents.affected_leads_count(incident=everything, workspace=world.a) == 2
    # Charlie's workspace is not named: none of his leads count.
    assert incidents.affected_leads_count(incident=everything, workspace=world.b) == 0
    # The trashed lead was gone before this exposure began.
    later = _record(operator, world, exposure_start=after_trash)
    assert incidents.affected_leads_count(incident=later, workspace=world.a) == 1
    # An exposure that ended before any lead existed touched none of them.
    earlier = _record(
        operator, world, exposure_start=before_any - timedelta(days=1), exposure_end=before_any
    )
    assert incidents.affected_leads_count(incident=earlier, workspace=world.a) == 0


def test_notice_templates_are_filled_in_our_words(world, operator):
    incident = _record(operator, world)
    for kind in IncidentNotice.Kind.values:
        text = incidents.notice_template(incident, kind)
        assert incident.reference in text
        assert "Public backup bucket" in text
        assert "Priya" not in text


def test_staff_pages_record_and_update_and_others_get_404(client, world, staff_client):
    new = reverse("platform_privacy:incident_new")
    response = staff_client.post(
        new,
        {
            "title": "Stolen laptop of a support agent",
            "description": "Disk was encrypted",
            "detected_at": (timezone.localtime() - HOUR).strftime("%Y-%m-%dT%H:%M"),
            "severity": "medium",
            "personal_data_involved": "on",
            "workspaces": f"{world.a.slug}",
        },
    )
    assert response.status_code == 302, response.content
    incident = Incident.objects.get()
    assert list(incident.affected_workspaces.all()) == [world.a]
    detail = reverse("platform_privacy:incident_detail", kwargs={"incident_id": incident.pk})
    page = staff_client.get(detail)
    assert page.status_code == 200
    assert b"Disk was encrypted" in page.content
    assert b'data-notice="cert_in"' in page.content

    bad = staff_client.post(detail, {"status": "contained", "workspaces": "no-such-slug"})
    assert bad.status_code == 400
    assert b"no-such-slug" in bad.content
    notice = reverse(
        "platform_privacy:incident_notice", kwargs={"incident_id": incident.pk, "kind": "cert_in"}
    )
    assert staff_client.post(notice, {"reference": "CERTIN-123"}).status_code == 302
    assert IncidentNotice.objects.get(kind="cert_in").reference == "CERTIN-123"

    client.login(email=world.alice.email, password=PASSWORD)
    for url in (new, detail, notice):
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
