"""Privacy requests as records: who may create and close them, what closing needs, and an
audit trail that names ids, types and counts but never the person."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from conftest import World
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.privacy.errors import PrivacyActionRefused
from heroshhi.privacy.models import PrivacyRequest
from heroshhi.privacy.services.erasure import lead_erase
from heroshhi.privacy.services.exports import lead_access_export
from heroshhi.privacy.services.objection import lead_object
from heroshhi.privacy.services.requests import (
    privacy_request_complete,
    privacy_request_create,
    privacy_request_reject,
    privacy_request_submit_public,
)
from heroshhi.privacy.services.restriction import lead_restrict, lead_unrestrict
from heroshhi.privacy.tests.conftest import EMAIL, NAME, PHONE, Person


def _create(world: World, actor: Actor, person: Person, type: str, **extra) -> PrivacyRequest:
    return privacy_request_create(
        workspace=world.a, actor=actor, type=type, lead=person.lead, channel="email", **extra
    )


def test_sales_may_not_create_or_close_requests(world, alice, bob, person):
    with pytest.raises(PermissionDenied):
        _create(world, bob, person, "access")
    request = _create(world, alice, person, "access")
    with pytest.raises(PermissionDenied):
        privacy_request_reject(workspace=world.a, actor=bob, request=request, evidence="no")


def test_a_request_needs_a_lead_of_this_workspace(world, alice, charlie, person):
    with pytest.raises(ValidationError):
        privacy_request_create(
            workspace=world.b, actor=charlie, type="access", lead=person.lead, channel="email"
        )


def test_staff_channels_only(world, alice, person):
    with pytest.raises(ValidationError) as error:
        privacy_request_create(
            workspace=world.a, actor=alice, type="access", lead=person.lead, channel="public_form"
        )
    assert "channel" in error.value.message_dict


def test_a_closed_request_cannot_be_acted_on(world, alice, person):
    request = _create(world, alice, person, "restriction")
    privacy_request_reject(
        workspace=world.a, actor=alice, request=request, evidence="Not the contact"
    )
    with pytest.raises(PrivacyActionRefused) as refused:
        privacy_request_complete(workspace=world.a, actor=alice, request=request)
    assert refused.value.code == "request_closed"
    with pytest.raises(PrivacyActionRefused):
        lead_restrict(workspace=world.a, actor=alice, lead=person.lead, request=request)


def test_rectification_names_real_fields_only(world, alice, person):
    request = _create(world, alice, person, "rectification")
    with pytest.raises(ValidationError):
        privacy_request_complete(
            workspace=world.a, actor=alice, request=request, rectified_fields=["password"]
        )
    privacy_request_complete(
        workspace=world.a, actor=alice, request=request, rectified_fields=["phone"]
    )


def test_references_are_unique_and_readable(world, alice, person):
    references = {_create(world, alice, person, "access").reference for _ in range(20)}
    assert len(references) == 20
    assert all(ref.startswith("PR-") and len(ref) == 11 for ref in references)


def test_no_audit_event_of_the_whole_flow_holds_personal_data(world, alice, person):
    access = _create(world, alice, person, "access", evidence=f"Verified {NAME} by {EMAIL}")
    lead_access_export(
        workspace=world.a, actor=alice, lead=person.lead, format="zip", request=access
    )
    privacy_request_complete(
        workspace=world.a, actor=alice, request=access, evidence=f"Sent to {EMAIL}"
    )
    privacy_request_submit_public(
        workspace=world.a,
        name=NAME,
        email=EMAIL,
        phone=PHONE,
        type="objection",
        scope="analytics",
        message=f"I am {NAME}, call me on {PHONE}",
    )
    lead_object(workspace=world.a, actor=alice, lead=person.lead, scope="analytics")
    lead_restrict(workspace=world.a, actor=alice, lead=person.lead)
    lead_unrestrict(workspace=world.a, actor=alice, lead=person.lead)
    lead_erase(workspace=world.a, actor=alice, lead_id=person.lead.pk)
    privacy_events = AuditEvent.objects.filter(
        workspace=world.a,
        action__in=[
            "privacy_request_created",
            "privacy_request_completed",
            "data_export",
            "data_delete",
            "lead_updated",
        ],
    )
    assert privacy_events.count() >= 8
    dumped = json.dumps([(e.reason, e.target_id, e.metadata) for e in privacy_events])
    for value in [*person.plaintexts, PHONE.lstrip("+"), "98123"]:
        assert value not in dumped
