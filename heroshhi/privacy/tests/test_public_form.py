"""The public privacy-request form: no sign-in, CSRF on, rate-limited per IP and per
workspace, creates a tracked request matched to a lead by blind index, and answers the same
whether or not the business holds data about the person."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from conftest import World
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.privacy import public_views
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.tests.conftest import EMAIL, NAME, PHONE, Person


def _url(world: World) -> str:
    return reverse("privacy_public:form", kwargs={"slug": world.a.slug})


def _form(**overrides: str) -> dict[str, str]:
    return {
        "name": NAME,
        "email": EMAIL,
        "phone": "",
        "type": "access",
        "scope": "",
        "message": "Please send me what you hold",
        **overrides,
    }


def _strip_reference(html: str, reference: str) -> str:
    """The page without what differs on every response: the reference and CSP nonces."""
    return re.sub(r'nonce="[^"]+"', 'nonce=""', html.replace(reference, "PR-XXXXXXXX"))


def test_a_submission_creates_a_request_matched_to_the_lead(client, world, person: Person):
    response = client.post(_url(world), _form())
    assert response.status_code == 200
    reference = response.context["reference"]
    with workspace_scope(world.a):
        request = PrivacyRequest.objects.get(reference=reference)
    assert request.channel == "public_form"
    assert request.lead_id == person.lead.pk
    assert request.subject_ref == str(person.lead.pk)
    assert (request.requester_name, request.requester_email) == (NAME, EMAIL)
    assert request.due_at > request.received_at
    # The audit event says whether a lead matched, never who asked.
    event = AuditEvent.objects.filter(action="privacy_request_created").latest("seq")
    assert event.actor_type == "anonymous"
    assert event.metadata["matched"] is True
    assert EMAIL not in json.dumps(event.metadata)
    assert NAME not in json.dumps(event.metadata)


def test_a_phone_number_in_any_format_finds_the_lead(client, world, person):
    response = client.post(_url(world), _form(email="", phone="098123 45678"))
    with workspace_scope(world.a):
        request = PrivacyRequest.objects.get(reference=response.context["reference"])
    assert request.lead_id == person.lead.pk


def test_the_answer_reveals_nothing_about_whether_a_lead_exists(client, world, person):
    known = client.post(_url(world), _form())
    unknown = client.post(_url(world), _form(email="nobody@example.in", name="Nobody"))
    assert known.status_code == unknown.status_code == 200
    known_html = _strip_reference(known.content.decode(), known.context["reference"])
    unknown_html = _strip_reference(unknown.content.decode(), unknown.context["reference"])
    # The two pages differ only in the reference number.
    assert known_html == unknown_html
    assert NAME not in known_html
    assert EMAIL not in known_html
    with workspace_scope(world.a):
        unmatched = PrivacyRequest.objects.get(reference=unknown.context["reference"])
    assert unmatched.lead_id is None


def test_bad_input_gets_field_errors_and_keeps_what_was_typed(client, world):
    response = client.post(_url(world), _form(email="", phone="", message="keep me"))
    assert response.status_code == 400
    assert "email" in response.context["form"].errors
    assert b"keep me" in response.content
    bad_phone = client.post(_url(world), _form(email="", phone="12"))
    assert "phone" in bad_phone.context["form"].errors
    with workspace_scope(world.a):
        assert not PrivacyRequest.objects.exists()


def test_csrf_is_enforced(world):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(_url(world), _form()).status_code == 403
    page = strict.get(_url(world))
    assert page.status_code == 200
    token = page.context["csrf_token"]
    assert (
        strict.post(_url(world), {**_form(), "csrfmiddlewaretoken": str(token)}).status_code == 200
    )


def test_too_many_from_one_address_answers_429(client, world):
    for _ in range(public_views.PER_IP_LIMIT.limit):
        assert client.post(_url(world), _form()).status_code == 200
    refused = client.post(_url(world), _form(message="one more"))
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert b"try again" in refused.content
    assert b"one more" in refused.content  # nothing typed is lost
    with workspace_scope(world.a):
        assert PrivacyRequest.objects.count() == public_views.PER_IP_LIMIT.limit


def test_the_workspace_limit_counts_every_sender(client, world, monkeypatch):
    monkeypatch.setattr(
        public_views, "PER_WORKSPACE_LIMIT", public_views.ratelimit.Limit("pf-ws-test", 2, 3600)
    )
    for address in ("10.0.0.1", "10.0.0.2"):
        assert client.post(_url(world), _form(), REMOTE_ADDR=address).status_code == 200
    assert client.post(_url(world), _form(), REMOTE_ADDR="10.0.0.3").status_code == 429
    # Another business is not affected.
    other = reverse("privacy_public:form", kwargs={"slug": world.b.slug})
    assert client.post(other, _form(), REMOTE_ADDR="10.0.0.3").status_code == 200


@pytest.mark.parametrize("slug", ["no-such-business"])
def test_an_unknown_workspace_is_not_found(client, db, slug):
    assert client.get(reverse("privacy_public:form", kwargs={"slug": slug})).status_code == 404


def test_a_suspended_workspace_has_no_form(client, world):
    world.a.status = "suspended"
    world.a.save(update_fields=["status"])
    assert client.get(_url(world)).status_code == 404


def test_the_form_needs_no_sign_in_and_shows_only_the_business_name(client, world, person):
    page = client.get(_url(world))
    assert page.status_code == 200
    assert world.a.name.encode() in page.content
    assert NAME.encode() not in page.content
    assert PHONE.encode() not in page.content
