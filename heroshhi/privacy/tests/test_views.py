"""The privacy pages: the SLA list, recording a request from a lead, acting on it (erase
with confirmation and receipt, rectification), holidays, reminders; who may see them."""

from __future__ import annotations

from datetime import datetime, timedelta
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD, World
from heroshhi.accounts.services import user_create
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.privacy.models import PrivacyReminder, PrivacyRequest, WorkspaceHoliday
from heroshhi.privacy.services.reminders import privacy_reminders_send
from heroshhi.privacy.services.requests import privacy_request_create, privacy_request_submit_public
from heroshhi.privacy.tests.conftest import NAME
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create

IST = ZoneInfo("Asia/Kolkata")


def _url(world: World, name: str, **kwargs: object) -> str:
    return reverse(f"privacy:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _request(world, alice, person, type="access", **extra) -> PrivacyRequest:
    return privacy_request_create(
        workspace=world.a, actor=alice, type=type, lead=person.lead, channel="email", **extra
    )


@pytest.fixture
def signed_in(client, world):
    client.login(email=world.alice.email, password=PASSWORD)
    return client


def test_the_list_highlights_overdue_and_due_soon(signed_in, world, alice, person):
    late = _request(world, alice, person, received_at=timezone.now() - timedelta(days=10))
    fresh = _request(world, alice, person)
    page = signed_in.get(_url(world, "requests"))
    assert page.status_code == 200
    states = {row.request.pk: row.state for row in page.context["rows"]}
    assert states[late.pk] == "overdue"
    assert states[fresh.pk] in ("on_track", "due_soon")
    assert b'class="privacy-row--overdue"' in page.content
    # Filters are plain query values (status, type), never personal data.
    only_late = signed_in.get(_url(world, "requests") + "?overdue=on")
    assert [row.request.pk for row in only_late.context["rows"]] == [late.pk]
    bad = signed_in.get(_url(world, "requests") + "?status=whatever")
    assert bad.status_code == 200
    assert bad.context["filter_errors"]


def test_a_request_is_recorded_from_the_lead_page(signed_in, world, person):
    lead_page = signed_in.get(
        reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": person.lead.pk})
    )
    new_url = _url(world, "request_new") + f"?lead={person.lead.pk}"
    assert new_url.encode() in lead_page.content.replace(b"&amp;", b"&")
    form = signed_in.get(new_url)
    assert form.context["form"].initial["lead"] == str(person.lead.pk)
    response = signed_in.post(
        _url(world, "request_new"),
        {"lead": str(person.lead.pk), "type": "erasure", "channel": "email", "evidence": ""},
    )
    assert response.status_code == 302
    with workspace_scope(world.a):
        request = PrivacyRequest.objects.get()
    assert (request.type, request.channel, request.lead_id) == ("erasure", "email", person.lead.pk)
    assert AuditEvent.objects.filter(action="privacy_request_created").exists()


def test_a_bad_new_request_keeps_what_was_typed(signed_in, world, person):
    response = signed_in.post(
        _url(world, "request_new"),
        {"lead": str(person.lead.pk), "type": "objection", "channel": "email", "evidence": "kept"},
    )
    assert response.status_code == 400
    assert "scope" in response.context["form"].errors
    assert b"kept" in response.content
    unknown = signed_in.post(
        _url(world, "request_new"),
        {"lead": "00000000-0000-0000-0000-000000000000", "type": "access", "channel": "email"},
    )
    assert unknown.status_code == 400
    assert "lead" in unknown.context["form"].errors


@pytest.mark.parametrize(
    ("received", "problem"),
    [("2099-06-01T10:00", "This time is in the future."), ("2020-06-01T10:00", "30 days ago")],
)
def test_the_form_refuses_a_receipt_date_that_moves_the_deadline(
    signed_in, world, person, received, problem
):
    response = signed_in.post(
        _url(world, "request_new"),
        {
            "lead": str(person.lead.pk),
            "type": "access",
            "channel": "email",
            "received_at": received,
        },
    )
    assert response.status_code == 400
    assert problem in " ".join(response.context["form"].errors["received_at"])
    with workspace_scope(world.a):
        assert not PrivacyRequest.objects.exists()


def test_erasure_asks_for_confirmation_then_shows_the_receipt(signed_in, world, alice, person):
    request = _request(world, alice, person, type="erasure")
    erase = _url(world, "request_erase", request_id=request.pk)
    confirm = signed_in.get(erase)
    assert confirm.status_code == 200
    assert b"cannot be undone" in confirm.content
    unconfirmed = signed_in.post(erase, {})
    assert unconfirmed.status_code == 400
    with workspace_scope(world.a):
        assert Lead.objects.filter(pk=person.lead.pk).exists()
    done = signed_in.post(erase, {"confirm": "on"}, follow=True)
    assert done.status_code == 200
    assert b"data-receipt" in done.content
    assert b"messaging.Message" in done.content
    assert NAME.encode() not in done.content
    with workspace_scope(world.a):
        assert not Lead.objects.filter(pk=person.lead.pk).exists()
    # The request page still opens, and erasing again is not offered.
    again = signed_in.get(_url(world, "request_detail", request_id=request.pk))
    assert again.status_code == 200
    assert erase.encode() not in again.content
    assert signed_in.get(erase).status_code == 404


def test_rectification_is_completed_with_the_corrected_field_names(signed_in, world, alice, person):
    request = _request(world, alice, person, type="rectification")
    complete = _url(world, "request_complete", request_id=request.pk)
    refused = signed_in.post(complete, {"evidence": ""})
    assert refused.status_code == 400
    response = signed_in.post(
        complete, {"evidence": "Fixed the spelling", "rectified_fields": ["name", "email"]}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "completed"
    assert request.outcome["rectified_fields"] == ["email", "name"]
    event = AuditEvent.objects.filter(action="privacy_request_completed").latest("seq")
    assert event.metadata["fields"] == ["email", "name"]
    assert "spelling" not in str(event.metadata)


def test_sales_get_403_on_every_privacy_page(client, world, alice, person):
    request = _request(world, alice, person)
    client.login(email=world.bob.email, password=PASSWORD)
    for url in (
        _url(world, "requests"),
        _url(world, "request_new"),
        _url(world, "holidays"),
        _url(world, "request_detail", request_id=request.pk),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(_url(world, "request_report", request_id=request.pk)).status_code == 403


def test_charlie_gets_404_on_alices_privacy_pages(client, world, alice, person):
    request = _request(world, alice, person)
    client.login(email=world.charlie.email, password=PASSWORD)
    assert client.get(_url(world, "requests")).status_code == 404
    own = reverse("privacy:request_detail", kwargs={"slug": world.b.slug, "request_id": request.pk})
    assert client.get(own).status_code == 404


def test_owners_manage_holidays_and_managers_may_not(client, world, signed_in):
    response = signed_in.post(
        _url(world, "holidays"), {"date": "2030-08-15", "name": "Independence Day"}
    )
    assert response.status_code == 302
    with workspace_scope(world.a):
        holiday = WorkspaceHoliday.objects.get()
    duplicate = signed_in.post(_url(world, "holidays"), {"date": "2030-08-15", "name": "Again"})
    assert duplicate.status_code == 400
    manager = user_create(email="meera@a.example", password=PASSWORD, full_name="Meera")
    membership_create(workspace=world.a, user=manager, role=Role.MANAGER)
    client.logout()
    client.login(email=manager.email, password=PASSWORD)
    assert client.get(_url(world, "holidays")).status_code == 403
    assert client.get(_url(world, "requests")).status_code == 200
    client.logout()
    client.login(email=world.alice.email, password=PASSWORD)
    removed = client.post(_url(world, "holiday_remove", holiday_id=holiday.pk))
    assert removed.status_code == 302
    with workspace_scope(world.a):
        assert not WorkspaceHoliday.objects.exists()


def test_reminders_go_to_owners_once_and_can_be_dismissed(signed_in, world, alice, person):
    overdue = _request(world, alice, person, received_at=timezone.now() - timedelta(days=10))
    now = datetime(2030, 6, 10, 12, tzinfo=IST)
    made = privacy_reminders_send(now=now)
    assert made == 1  # one owner, one overdue request
    assert privacy_reminders_send(now=now) == 0
    with workspace_scope(world.a):
        reminder = PrivacyReminder.objects.get()
    assert (reminder.request_id, reminder.kind) == (overdue.pk, "overdue")
    assert reminder.recipient.user_id == world.alice.pk
    page = signed_in.get(_url(world, "requests"))
    assert overdue.reference.encode() in page.content
    signed_in.post(_url(world, "reminders_read"))
    assert signed_in.get(_url(world, "requests")).context["reminders"] == []


def test_a_request_due_within_a_business_day_is_reminded_as_due_soon(world, alice, person):
    # Received Friday → due Tuesday; on Monday it is due soon.
    friday = datetime(2030, 6, 7, 18, tzinfo=IST)
    with mock.patch("django.utils.timezone.now", return_value=friday):
        _request(world, alice, person, received_at=friday)
    assert privacy_reminders_send(now=datetime(2030, 6, 8, 12, tzinfo=IST)) == 0
    assert privacy_reminders_send(now=datetime(2030, 6, 10, 9, tzinfo=IST)) == 1
    with workspace_scope(world.a):
        assert PrivacyReminder.objects.get().kind == "due_soon"


def test_the_public_form_link_is_shown_to_staff(signed_in, world):
    page = signed_in.get(_url(world, "requests"))
    assert reverse("privacy_public:form", kwargs={"slug": world.a.slug}).encode() in page.content


def test_the_reminder_task_runs(world, alice, person):
    from heroshhi.privacy.tasks import privacy_requests_remind

    _request(world, alice, person, received_at=timezone.now() - timedelta(days=10))
    assert privacy_requests_remind.delay().get() == {"made": 1}


def test_a_public_request_is_linked_to_a_lead_by_staff(signed_in, world, alice, person):
    submitted = privacy_request_submit_public(
        workspace=world.a,
        name="Someone",
        email="unknown@example.in",
        phone=None,
        type="access",
        message=None,
    )
    assert submitted.lead_id is None
    link = _url(world, "request_link", request_id=submitted.pk)
    response = signed_in.post(link, {"lead": str(person.lead.pk)})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.lead_id == person.lead.pk
    assert submitted.status == "in_progress"


@pytest.mark.parametrize(
    ("type", "extra", "action"),
    [
        ("access", {}, b"Prepare download"),
        ("portability", {}, b"Prepare download"),
        ("erasure", {}, b"Erase"),
        ("restriction", {}, b"Restrict processing"),
        ("objection", {"scope": "marketing"}, b"Apply the objection"),
        ("rectification", {}, b"Open the lead"),
    ],
)
def test_each_request_type_offers_its_action(signed_in, world, alice, person, type, extra, action):
    request = _request(world, alice, person, type=type, **extra)
    page = signed_in.get(_url(world, "request_detail", request_id=request.pk))
    assert page.status_code == 200
    assert action in page.content
    assert b"Mark completed" in page.content


def test_the_requester_is_shown_to_staff_on_a_public_request(signed_in, world, person):
    submitted = privacy_request_submit_public(
        workspace=world.a,
        name=NAME,
        email="priya.r@example.in",
        phone=None,
        type="access",
        message="Which data do you have?",
    )
    page = signed_in.get(_url(world, "request_detail", request_id=submitted.pk))
    assert NAME.encode() in page.content
    assert b"Which data do you have?" in page.content


def test_the_list_costs_the_same_queries_for_few_or_many_requests(signed_in, world, alice, person):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert signed_in.get(_url(world, "requests")).status_code == 200
        return len(captured)

    _request(world, alice, person)
    queries()  # the first page of a session also stamps the session's clocks
    few = queries()
    for _ in range(5):
        _request(world, alice, person)
    assert queries() == few
