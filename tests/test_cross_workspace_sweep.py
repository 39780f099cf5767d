"""The cross-workspace sweep: every route, requested by Charlie (workspace B) for Alice's
(workspace A) objects, must answer 404 or show nothing of A.

Every URL pattern and every API operation must be listed in ROUTES or API_OPERATIONS below.
A new route that is not listed fails `test_every_route_is_covered`, so nobody can add an
endpoint without saying how it keeps tenants apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.test import TestCase
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from conftest import PASSWORD, World
from heroshhi.accounts.models import ApiKey, User
from heroshhi.accounts.services import api_key_create
from heroshhi.api.root import api
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.workspaces.models import Invitation, Membership
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import invitation_create


@dataclass(frozen=True)
class Public:
    """Serves no workspace data at all."""

    reason: str


@dataclass(frozen=True)
class WorkspacePage:
    """An HTML route under /w/<slug>/...; ``kwargs`` builds Alice's objects for the URL."""

    kwargs: Callable[[World], dict[str, str]]


@dataclass(frozen=True)
class StaffOnly:
    """A platform console route (/platform/...): 404 for everyone but platform staff, and no
    workspace content for staff either (heroshhi/workspaces/platform_admin/tests)."""

    kwargs: Callable[[World], dict[str, str]]


def _no_kwargs(world: World) -> dict[str, str]:
    return {}


def _workspace_a_id(world: World) -> dict[str, str]:
    return {"workspace_id": str(world.a.pk)}


@dataclass(frozen=True)
class ForeignObject:
    """An API operation on one object: Charlie's key asks for Alice's object → 404."""

    path_params: Callable[[World], dict[str, str]]
    # A valid body, so the 404 comes from the object lookup, not from input validation.
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class ScopedList:
    """An API list or search: Charlie's key must see none of Alice's ids."""

    alice_ids: Callable[[World], set[str]]
    # A search body (sent as JSON); None means a plain GET.
    body: dict[str, object] | None = None


@dataclass(frozen=True)
class ScopedCreate:
    """An API create by Charlie's key leaves Alice's objects untouched."""

    body: dict[str, object]
    alice_ids: Callable[[World], set[str]]


def _alice_api_key_id(world: World) -> str:
    with workspace_scope(world.a):
        return str(ApiKey.objects.values_list("pk", flat=True)[0])


def _alice_api_key_ids(world: World) -> set[str]:
    with workspace_scope(world.a):
        return {str(pk) for pk in ApiKey.objects.values_list("pk", flat=True)}


def _bob_membership_id(world: World) -> str:
    with workspace_scope(world.a):
        return str(Membership.objects.get(user=world.bob).pk)


def _alice_membership_ids(world: World) -> set[str]:
    with workspace_scope(world.a):
        return {str(pk) for pk in Membership.objects.values_list("pk", flat=True)}


def _alice_invitation_id(world: World) -> str:
    with workspace_scope(world.a):
        return str(Invitation.objects.values_list("pk", flat=True)[0])


def _alice_invitation_ids(world: World) -> set[str]:
    with workspace_scope(world.a):
        return {str(pk) for pk in Invitation.objects.values_list("pk", flat=True)}


def _alice_export(world: World):
    """A finished whole-workspace export of workspace A, made on first use."""
    from heroshhi.workspaces.export import workspace_export_start
    from heroshhi.workspaces.models import WorkspaceExport

    with workspace_scope(world.a):
        found = WorkspaceExport.objects.first()
    if found is not None:
        return found
    owner = Actor.user(world.alice.pk, role=Role.OWNER)
    # Tasks run eagerly in tests, so the export is ready when this returns.
    with TestCase.captureOnCommitCallbacks(execute=True):
        return workspace_export_start(workspace=world.a, actor=owner, requested_by=world.alice)


def _alice_export_kwargs(world: World) -> dict[str, str]:
    return {"export_id": str(_alice_export(world).pk)}


def _alice_export_ids(world: World) -> set[str]:
    from heroshhi.workspaces.models import WorkspaceExport

    _alice_export(world)
    with workspace_scope(world.a):
        # With the status: Charlie's request must not start or change any of Alice's.
        rows = WorkspaceExport.objects.values_list("pk", "status")
        return {f"{pk}:{status}" for pk, status in rows}


def _alice_export_token_kwargs(world: World) -> dict[str, str]:
    from heroshhi.workspaces.export import download_token

    return {"token": download_token(_alice_export(world))}


def _member_kwargs(world: World) -> dict[str, str]:
    return {"member_id": _bob_membership_id(world)}


def _invitation_kwargs(world: World) -> dict[str, str]:
    return {"invitation_id": _alice_invitation_id(world)}


def _workspace_a_state(world: World) -> tuple[object, ...]:
    """What Charlie's requests must leave exactly as it was."""
    with workspace_scope(world.a):
        return (
            sorted(Membership.objects.values_list("pk", "role")),
            sorted(Invitation.objects.values_list("pk", "role", "revoked_at", "accepted_at")),
        )


def _alice_lead_id(world: World, *, trashed: bool = False) -> str:
    """Alice's live (or trashed) lead, created on first use."""
    from heroshhi.leads.models import Lead
    from heroshhi.leads.services.leads import lead_create
    from heroshhi.leads.services.trash import lead_trash

    with workspace_scope(world.a):
        found = Lead.objects.filter(deleted_at__isnull=not trashed).first()
    if found is not None:
        return str(found.pk)
    owner = Actor.user(world.alice.pk, role=Role.OWNER)
    phone = "+919812345678" if trashed else "+919876543210"
    lead = lead_create(
        workspace=world.a, actor=owner, name="Sweep", phone=phone, email=None, source="manual"
    ).lead
    if trashed:
        lead_trash(workspace=world.a, actor=owner, lead=lead)
    return str(lead.pk)


def _lead_kwargs(world: World) -> dict[str, str]:
    return {"lead_id": _alice_lead_id(world)}


def _trashed_lead_kwargs(world: World) -> dict[str, str]:
    return {"lead_id": _alice_lead_id(world, trashed=True)}


def _alice_lead_state(world: World) -> set[str]:
    """Alice's lead and timeline ids: a dedupe across tenants would add a timeline entry."""
    from heroshhi.leads.models import Lead, TimelineEvent

    _alice_lead_id(world)
    with workspace_scope(world.a):
        leads = {str(pk) for pk in Lead.objects.values_list("pk", flat=True)}
        return leads | {str(pk) for pk in TimelineEvent.objects.values_list("pk", flat=True)}


def _alice_stage_kwargs(world: World) -> dict[str, str]:
    from heroshhi.leads.services.stages import stages_ensure_defaults

    return {"stage_id": str(stages_ensure_defaults(workspace=world.a)[0].pk)}


def _alice_task_kwargs(world: World) -> dict[str, str]:
    """An open task on Alice's live lead, created on first use."""
    from datetime import timedelta

    from django.utils import timezone

    from heroshhi.leads.models import Lead, Task
    from heroshhi.leads.services.tasks import task_create

    lead_id = _alice_lead_id(world)
    with workspace_scope(world.a):
        found = Task.objects.values_list("pk", flat=True).first()
        lead = Lead.objects.get(pk=lead_id)
    if found is None:
        found = task_create(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            lead=lead,
            title="Call back",
            due_at=timezone.now() - timedelta(hours=1),
        ).pk
    return {"task_id": str(found)}


def _alice_custom_field_kwargs(world: World) -> dict[str, str]:
    """A custom field of Alice's workspace, created on first use."""
    from heroshhi.leads.models import CustomField
    from heroshhi.leads.services.custom_fields import custom_field_create

    with workspace_scope(world.a):
        found = CustomField.objects.values_list("pk", flat=True).first()
    if found is None:
        found = custom_field_create(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            label="Budget",
            kind="number",
        ).pk
    return {"field_id": str(found)}


def _alice_custom_field_ids(world: World) -> set[str]:
    return {_alice_custom_field_kwargs(world)["field_id"]}


def _alice_custom_field_state(world: World) -> set[str]:
    """Alice's fields with their definitions: Charlie's create must change none of them."""
    from heroshhi.leads.models import CustomField

    _alice_custom_field_kwargs(world)
    with workspace_scope(world.a):
        rows = CustomField.objects.values_list("pk", "key", "label", "position", "archived_at")
        return {":".join(str(part) for part in row) for row in rows}


def _alice_import_kwargs(world: World) -> dict[str, str]:
    """A CSV import uploaded by Alice, created on first use."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from heroshhi.leads.models import LeadImport
    from heroshhi.leads.services.imports import lead_import_create

    with workspace_scope(world.a):
        found = LeadImport.objects.values_list("pk", flat=True).first()
        member = Membership.objects.get(user=world.alice)
    if found is None:
        found = lead_import_create(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            member=member,
            upload=SimpleUploadedFile("a.csv", b"name,phone\nA,+919876500000\n"),
        ).pk
    return {"import_id": str(found)}


def _alice_channel_id(world: World) -> str:
    """Alice's WhatsApp number, created on first use (no provider call needed)."""
    from heroshhi.whatsapp.models import WhatsAppChannel
    from heroshhi.whatsapp.tests.webhook_support import channel_rows

    with workspace_scope(world.a):
        found = WhatsAppChannel.objects.values_list("pk", flat=True).first()
    if found is None:
        found = channel_rows(
            world.a, phone_number_id="100000000000001", display_phone_number="+91 90000 00001"
        ).pk
    return str(found)


def _alice_channel_kwargs(world: World) -> dict[str, str]:
    return {"channel_id": _alice_channel_id(world)}


def _alice_channel_ids(world: World) -> set[str]:
    return {_alice_channel_id(world)}


def _alice_failed_item_id(world: World) -> str:
    """An inbound item set aside from a delivery to Alice's number, recorded on first use."""
    from heroshhi.whatsapp.models import FailedInboundItem, WhatsAppChannel

    channel_id = _alice_channel_id(world)
    with workspace_scope(world.a):
        found = FailedInboundItem.objects.values_list("pk", flat=True).first()
        if found is None:
            found = FailedInboundItem.objects.create(
                workspace=world.a,
                channel=WhatsAppChannel.objects.get(pk=channel_id),
                path="entry[0].changes[0].messages[0]",
                kind="messages",
                reason="too_long:id",
            ).pk
    return str(found)


def _alice_failed_item_kwargs(world: World) -> dict[str, str]:
    return {"item_id": _alice_failed_item_id(world)}


def _alice_failed_item_ids(world: World) -> set[str]:
    return {_alice_failed_item_id(world)}


def _alice_conversation_kwargs(world: World) -> dict[str, str]:
    """A conversation between Alice's lead and her number, created on first use."""
    from heroshhi.messaging.models import Conversation

    channel_id = _alice_channel_id(world)
    lead_id = _alice_lead_id(world)
    with workspace_scope(world.a):
        conversation, _created = Conversation.objects.get_or_create(
            workspace=world.a, lead_id=lead_id, channel_id=channel_id
        )
    return {"conversation_id": str(conversation.pk)}


def _alice_media_kwargs(world: World) -> dict[str, str]:
    """A received photo in Alice's conversation."""
    from heroshhi.messaging.models import Message

    kwargs = _alice_conversation_kwargs(world)
    with workspace_scope(world.a):
        message = Message.objects.create(
            workspace=world.a,
            conversation_id=kwargs["conversation_id"],
            lead_id=_alice_lead_id(world),
            direction=Message.Direction.INBOUND,
            kind=Message.Kind.IMAGE,
            payload={"media": {"id": "1234", "mime_type": "image/jpeg"}},
            status=Message.Status.RECEIVED,
        )
    return {**kwargs, "message_id": str(message.pk)}


def _alice_optout_ids(world: World) -> set[str]:
    """The ledger records about Alice's lead, one written on first use."""
    from heroshhi.leads.models import Lead
    from heroshhi.messaging import optout
    from heroshhi.messaging.models import OptOutRecord

    lead_id = _alice_lead_id(world)
    with workspace_scope(world.a):
        if not OptOutRecord.objects.exists():
            optout.lead_opt_out(
                workspace=world.a,
                actor=Actor.user(world.alice.pk, role=Role.OWNER),
                lead=Lead.objects.get(pk=lead_id),
            )
        return {str(pk) for pk in OptOutRecord.objects.values_list("pk", flat=True)}


def _alice_privacy_request_id(world: World) -> str:
    """An access request about Alice's lead, recorded on first use."""
    from heroshhi.leads.models import Lead
    from heroshhi.privacy.models import PrivacyRequest
    from heroshhi.privacy.services.requests import privacy_request_create

    lead_id = _alice_lead_id(world)
    with workspace_scope(world.a):
        found = PrivacyRequest.objects.values_list("pk", flat=True).first()
        lead = Lead.objects.get(pk=lead_id)
    if found is None:
        found = privacy_request_create(
            workspace=world.a,
            actor=Actor.user(world.alice.pk, role=Role.OWNER),
            type="access",
            lead=lead,
            channel="email",
        ).pk
    return str(found)


def _alice_privacy_request_ids(world: World) -> set[str]:
    from heroshhi.privacy.models import PrivacyRequest

    _alice_privacy_request_id(world)
    with workspace_scope(world.a):
        return {str(pk) for pk in PrivacyRequest.objects.values_list("pk", flat=True)}


def _privacy_request_kwargs(world: World) -> dict[str, str]:
    return {"request_id": _alice_privacy_request_id(world)}


def _privacy_download_kwargs(world: World) -> dict[str, str]:
    """A well-formed download link of Alice's request (its token names only the request)."""
    return {**_privacy_request_kwargs(world), "token": "not-a-valid-token"}


def _alice_holiday_kwargs(world: World) -> dict[str, str]:
    from datetime import date

    from heroshhi.privacy.models import WorkspaceHoliday

    with workspace_scope(world.a):
        found = WorkspaceHoliday.objects.values_list("pk", flat=True).first()
        if found is None:
            found = WorkspaceHoliday.objects.create(
                workspace=world.a, date=date(2030, 1, 26), name="Republic Day"
            ).pk
    return {"holiday_id": str(found)}


def _incident_kwargs(world: World) -> dict[str, str]:
    """A platform incident naming Alice's workspace (staff-only pages)."""
    from django.utils import timezone

    from heroshhi.core.actors import ActorType
    from heroshhi.privacy.incidents import incident_record
    from heroshhi.privacy.models import Incident

    found = Incident.objects.values_list("pk", flat=True).first()
    if found is None:
        found = incident_record(
            actor=Actor(type=ActorType.PLATFORM_ADMIN, id="sweep"),
            title="Sweep incident",
            description="",
            detected_at=timezone.now(),
            severity="low",
            workspaces=[world.a],
        ).pk
    return {"incident_id": str(found)}


ROUTES: dict[str, Public | WorkspacePage | StaffOnly] = {
    "workspaces:home": Public("landing page; lists only the caller's own workspaces"),
    "core:healthz": Public("liveness, no data"),
    "core:readyz": Public("readiness, no data"),
    "accounts:login": Public("sign-in form"),
    "accounts:logout": Public("ends the caller's own session"),
    "accounts:login_verify": Public("second sign-in step of the caller's own half-done sign-in"),
    "accounts:password_reset": Public("reset request; the same answer for every address"),
    "accounts:password_reset_done": Public("static notice"),
    "accounts:password_reset_confirm": Public("new-password form behind a single-use token"),
    "accounts:password_reset_complete": Public("static notice"),
    "security:index": Public("the caller's own password, two-factor and sessions"),
    "security:password_change": Public("changes the caller's own password"),
    "security:logout_everywhere": Public("ends the caller's own sessions"),
    "security:two_factor": Public("the caller's own two-factor settings"),
    "security:two_factor_setup": Public("starts the caller's own enrolment"),
    "security:two_factor_confirm": Public("confirms the caller's own enrolment"),
    "security:two_factor_disable": Public("turns off the caller's own two-factor"),
    "security:recovery_codes": Public("replaces the caller's own recovery codes"),
    "security:workspace_two_factor": WorkspacePage(_no_kwargs),
    "security:workspace_member_unlock": WorkspacePage(lambda world: {"user_id": str(world.bob.pk)}),
    "security:my_data": Public("the caller's own account data and deletion"),
    "security:my_data_download": Public("a copy of the caller's own account data"),
    "security:account_delete": Public("deletes the caller's own account"),
    "workspaces:danger_zone": WorkspacePage(_no_kwargs),
    "workspaces:export_start": WorkspacePage(_no_kwargs),
    "workspaces:export_status": WorkspacePage(_alice_export_kwargs),
    "workspaces:export_download": WorkspacePage(_alice_export_token_kwargs),
    "workspaces:terminate": WorkspacePage(_no_kwargs),
    "workspaces:terminate_cancel": WorkspacePage(_no_kwargs),
    "platform:workspaces": StaffOnly(_no_kwargs),
    "platform:workspace_detail": StaffOnly(_workspace_a_id),
    "platform:workspace_suspend": StaffOnly(_workspace_a_id),
    "platform:workspace_reactivate": StaffOnly(_workspace_a_id),
    "platform:audit_events": StaffOnly(_no_kwargs),
    "platform:audit_verify": StaffOnly(_no_kwargs),
    "audit:log": WorkspacePage(lambda world: {}),
    "audit:verify": WorkspacePage(lambda world: {}),
    "api_keys:list": WorkspacePage(lambda world: {}),
    "api_keys:create": WorkspacePage(lambda world: {}),
    "api_keys:revoke": WorkspacePage(lambda world: {"key_id": _alice_api_key_id(world)}),
    "workspaces:signup": Public("creates a new account and workspace; shows no existing one"),
    "workspaces:start": Public("creates a workspace owned by the caller; shows no other"),
    "workspaces:invitation_accept": Public("parks the link's token in the caller's session"),
    "workspaces:invitation_continue": Public(
        "shows only the invitation whose secret token the caller holds (tests: workspaces)"
    ),
    "workspaces:dashboard": WorkspacePage(lambda world: {}),
    "workspaces:team": WorkspacePage(lambda world: {}),
    "workspaces:team_invite": WorkspacePage(lambda world: {}),
    "workspaces:member_role": WorkspacePage(_member_kwargs),
    "workspaces:member_remove": WorkspacePage(_member_kwargs),
    "workspaces:invitation_revoke": WorkspacePage(_invitation_kwargs),
    "leads:list": WorkspacePage(lambda world: {}),
    "leads:create": WorkspacePage(lambda world: {}),
    "leads:trash": WorkspacePage(lambda world: {}),
    "leads:bulk": WorkspacePage(lambda world: {}),
    "leads:detail": WorkspacePage(_lead_kwargs),
    "leads:edit": WorkspacePage(_lead_kwargs),
    "leads:note_add": WorkspacePage(_lead_kwargs),
    "leads:delete": WorkspacePage(_lead_kwargs),
    "leads:restore": WorkspacePage(_trashed_lead_kwargs),
    "leads:merge": WorkspacePage(_lead_kwargs),
    "leads:export": WorkspacePage(lambda world: {}),
    "leads:import": WorkspacePage(lambda world: {}),
    "leads:import_map": WorkspacePage(_alice_import_kwargs),
    "leads:import_progress": WorkspacePage(_alice_import_kwargs),
    "leads:import_report": WorkspacePage(_alice_import_kwargs),
    "leads:stages": WorkspacePage(lambda world: {}),
    "leads:stage_edit": WorkspacePage(_alice_stage_kwargs),
    "leads:stage_move": WorkspacePage(_alice_stage_kwargs),
    "leads:stage_delete": WorkspacePage(_alice_stage_kwargs),
    "leads:board": WorkspacePage(lambda world: {}),
    "leads:custom_fields": WorkspacePage(lambda world: {}),
    "leads:custom_field_edit": WorkspacePage(_alice_custom_field_kwargs),
    "leads:custom_field_move": WorkspacePage(_alice_custom_field_kwargs),
    "leads:custom_field_remove": WorkspacePage(_alice_custom_field_kwargs),
    "leads:custom_field_restore": WorkspacePage(_alice_custom_field_kwargs),
    "leads:board_move": WorkspacePage(_lead_kwargs),
    "leads:tasks": WorkspacePage(lambda world: {}),
    "leads:task_add": WorkspacePage(_lead_kwargs),
    "leads:task_done": WorkspacePage(_alice_task_kwargs),
    "leads:task_reopen": WorkspacePage(_alice_task_kwargs),
    "leads:assignment": WorkspacePage(lambda world: {}),
    "leads:take": WorkspacePage(_lead_kwargs),
    "leads:notifications": WorkspacePage(lambda world: {}),
    "leads:notifications_read": WorkspacePage(lambda world: {}),
    "messaging:inbox": WorkspacePage(_no_kwargs),
    "messaging:conversation": WorkspacePage(_alice_conversation_kwargs),
    "messaging:live": WorkspacePage(_alice_conversation_kwargs),
    "messaging:send": WorkspacePage(_alice_conversation_kwargs),
    "messaging:send_template": WorkspacePage(_alice_conversation_kwargs),
    "messaging:note_add": WorkspacePage(_alice_conversation_kwargs),
    "messaging:media": WorkspacePage(_alice_media_kwargs),
    "messaging:assign": WorkspacePage(_alice_conversation_kwargs),
    "messaging:status": WorkspacePage(_alice_conversation_kwargs),
    "messaging:lead_panel": WorkspacePage(_lead_kwargs),
    "messaging:lead_optout": WorkspacePage(_lead_kwargs),
    "messaging:optout_ledger": WorkspacePage(_no_kwargs),
    "messaging:lead_call_log": WorkspacePage(_lead_kwargs),
    "whatsapp:list": WorkspacePage(_no_kwargs),
    "whatsapp:add": WorkspacePage(_no_kwargs),
    "whatsapp:keywords": WorkspacePage(_no_kwargs),
    "whatsapp:detail": WorkspacePage(_alice_channel_kwargs),
    "whatsapp:check": WorkspacePage(_alice_channel_kwargs),
    "whatsapp:remove": WorkspacePage(_alice_channel_kwargs),
    "whatsapp:failed_items": WorkspacePage(_no_kwargs),
    "whatsapp:failed_item_replay": WorkspacePage(_alice_failed_item_kwargs),
    "privacy:requests": WorkspacePage(_no_kwargs),
    "privacy:request_new": WorkspacePage(_no_kwargs),
    "privacy:reminders_read": WorkspacePage(_no_kwargs),
    "privacy:holidays": WorkspacePage(_no_kwargs),
    "privacy:holiday_remove": WorkspacePage(_alice_holiday_kwargs),
    "privacy:request_detail": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_link": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_report": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_export": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_download": WorkspacePage(_privacy_download_kwargs),
    "privacy:request_erase": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_restrict": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_unrestrict": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_object": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_complete": WorkspacePage(_privacy_request_kwargs),
    "privacy:request_reject": WorkspacePage(_privacy_request_kwargs),
    "privacy:lead_restrict": WorkspacePage(_lead_kwargs),
    "privacy:compliance": WorkspacePage(_no_kwargs),
    "privacy:compliance_verify": WorkspacePage(_no_kwargs),
    "privacy:retention": WorkspacePage(_no_kwargs),
    "privacy:lead_consent": WorkspacePage(_lead_kwargs),
    "platform_privacy:overview": StaffOnly(_no_kwargs),
    "platform_privacy:incident_new": StaffOnly(_no_kwargs),
    "platform_privacy:incident_detail": StaffOnly(_incident_kwargs),
    "platform_privacy:incident_notice": StaffOnly(
        lambda world: {**_incident_kwargs(world), "kind": "cert_in"}
    ),
    "api:lead_consent_state": Public("see API_OPERATIONS"),
    "api:optouts_list": Public("see API_OPERATIONS"),
    "api:lead_consent_record": Public("see API_OPERATIONS"),
    "privacy:lead_unrestrict": WorkspacePage(_lead_kwargs),
    "privacy_public:form": Public(
        "a workspace's public request form: the same answer whatever is typed, no data shown"
    ),
    # API patterns are covered operation by operation below.
    "api:openapi-json": Public("schema only"),
    "api:api-root": Public("API index, no data"),
    "api:privacy_requests_create": Public("see API_OPERATIONS"),
    "api:privacy_requests_list": Public("see API_OPERATIONS"),
    "api:privacy_requests_retrieve": Public("see API_OPERATIONS"),
    "api:privacy_requests_complete": Public("see API_OPERATIONS"),
    "api:privacy_requests_reject": Public("see API_OPERATIONS"),
    "api:lead_privacy_export": Public("see API_OPERATIONS"),
    "api:lead_privacy_erase": Public("see API_OPERATIONS"),
    "api:lead_privacy_restrict": Public("see API_OPERATIONS"),
    "api:lead_privacy_unrestrict": Public("see API_OPERATIONS"),
    "api:me": Public("see API_OPERATIONS"),
    "api:api_keys_list": Public("see API_OPERATIONS"),
    "api:api_keys_create": Public("see API_OPERATIONS"),
    "api:api_keys_revoke": Public("see API_OPERATIONS"),
    "api:members_list": Public("see API_OPERATIONS"),
    "api:members_update": Public("see API_OPERATIONS"),
    "api:members_remove": Public("see API_OPERATIONS"),
    "api:invitations_list": Public("see API_OPERATIONS"),
    "api:invitations_create": Public("see API_OPERATIONS"),
    "api:invitations_revoke": Public("see API_OPERATIONS"),
    "api:leads_list": Public("see API_OPERATIONS"),
    "api:leads_search": Public("see API_OPERATIONS"),
    "api:leads_create": Public("see API_OPERATIONS"),
    "api:leads_create_batch": Public("see API_OPERATIONS"),
    "api:leads_retrieve": Public("see API_OPERATIONS"),
    "api:leads_update": Public("see API_OPERATIONS"),
    "api:leads_trash": Public("see API_OPERATIONS"),
    "api:leads_restore": Public("see API_OPERATIONS"),
    "api:lead_notes_list": Public("see API_OPERATIONS"),
    "api:lead_notes_create": Public("see API_OPERATIONS"),
    "api:leads_export": Public("see API_OPERATIONS"),
    "api:custom_fields_list": Public("see API_OPERATIONS"),
    "api:custom_fields_create": Public("see API_OPERATIONS"),
    "api:custom_fields_update": Public("see API_OPERATIONS"),
    "api:custom_fields_archive": Public("see API_OPERATIONS"),
    "api:custom_fields_restore": Public("see API_OPERATIONS"),
    "api:lead_calls_list": Public("see API_OPERATIONS"),
    "api:lead_calls_create": Public("see API_OPERATIONS"),
    "whatsapp_webhooks:receive": Public(
        "Meta's callback: routed by an unguessable channel id, accepted only with that "
        "channel's HMAC signature, answers nothing but ok (tests: whatsapp/test_webhooks)"
    ),
    "api:channels_list": Public("see API_OPERATIONS"),
    "api:channels_create": Public("see API_OPERATIONS"),
    "api:channels_delete": Public("see API_OPERATIONS"),
    "api:channels_check": Public("see API_OPERATIONS"),
    "api:channels_templates": Public("see API_OPERATIONS"),
    "api:failed_items_list": Public("see API_OPERATIONS"),
    "api:failed_items_replay": Public("see API_OPERATIONS"),
    "api:lead_messages_list": Public("see API_OPERATIONS"),
    "api:lead_messages_send": Public("see API_OPERATIONS"),
    "api:lead_optout_state": Public("see API_OPERATIONS"),
    "api:lead_optout_record": Public("see API_OPERATIONS"),
    "api:lead_optin_record": Public("see API_OPERATIONS"),
    "api:workspace_export_start": Public("see API_OPERATIONS"),
    "api:workspace_export_retrieve": Public("see API_OPERATIONS"),
    "api:workspace_export_file": Public("see API_OPERATIONS"),
}

API_OPERATIONS: dict[str, Public | ForeignObject | ScopedList | ScopedCreate] = {
    "GET /api/v1/me": Public("describes the calling key only"),
    "GET /api/v1/privacy-requests": ScopedList(_alice_privacy_request_ids),
    # Alice's lead id is refused too (heroshhi/privacy/tests/test_api.py).
    "POST /api/v1/privacy-requests": ScopedCreate(
        {"type": "erasure", "lead": "00000000-0000-0000-0000-000000000000"},
        _alice_privacy_request_ids,
    ),
    "GET /api/v1/privacy-requests/{request_id}": ForeignObject(_privacy_request_kwargs),
    "POST /api/v1/privacy-requests/{request_id}/complete": ForeignObject(
        _privacy_request_kwargs, body={}
    ),
    "POST /api/v1/privacy-requests/{request_id}/reject": ForeignObject(
        _privacy_request_kwargs, body={"evidence": "sneaky"}
    ),
    "GET /api/v1/leads/{lead_id}/export": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/erase": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/restrict": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/unrestrict": ForeignObject(_lead_kwargs),
    "GET /api/v1/leads/{lead_id}/consent": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/consent": ForeignObject(
        _lead_kwargs, body={"status": "granted", "source": "form"}
    ),
    "GET /api/v1/api-keys": ScopedList(_alice_api_key_ids),
    "POST /api/v1/api-keys": ScopedCreate({"name": "sneaky", "role": "sales"}, _alice_api_key_ids),
    "DELETE /api/v1/api-keys/{key_id}": ForeignObject(
        lambda world: {"key_id": _alice_api_key_id(world)}
    ),
    "GET /api/v1/members": ScopedList(_alice_membership_ids),
    "PATCH /api/v1/members/{member_id}": ForeignObject(
        lambda world: {"member_id": _bob_membership_id(world)}, body={"role": "manager"}
    ),
    "DELETE /api/v1/members/{member_id}": ForeignObject(
        lambda world: {"member_id": _bob_membership_id(world)}
    ),
    "GET /api/v1/invitations": ScopedList(_alice_invitation_ids),
    "POST /api/v1/invitations": ScopedCreate(
        {"email": "sweep@b.example", "role": "sales"}, _alice_invitation_ids
    ),
    "DELETE /api/v1/invitations/{invitation_id}": ForeignObject(
        lambda world: {"invitation_id": _alice_invitation_id(world)}
    ),
    "GET /api/v1/leads": ScopedList(_alice_lead_state),
    # Alice's lead's phone and name: the search must not cross into her workspace.
    "POST /api/v1/leads/search": ScopedList(_alice_lead_state, body={"q": "98765 43210"}),
    # Same phone as Alice's lead: a dedupe across tenants would touch her timeline.
    "POST /api/v1/leads": ScopedCreate(
        {"name": "Sneaky", "phone": "+919876543210"}, _alice_lead_state
    ),
    # The same phone inside a batch (twice, so the in-batch dedupe runs too).
    "POST /api/v1/leads/batch": ScopedCreate(
        {"items": [{"name": "Sneaky", "phone": "+919876543210"}, {"phone": "98765 43210"}]},
        _alice_lead_state,
    ),
    "GET /api/v1/leads/{lead_id}": ForeignObject(_lead_kwargs),
    "PATCH /api/v1/leads/{lead_id}": ForeignObject(_lead_kwargs, body={"tags": ["sneaky"]}),
    "DELETE /api/v1/leads/{lead_id}": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/restore": ForeignObject(_trashed_lead_kwargs),
    "GET /api/v1/leads/{lead_id}/notes": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/notes": ForeignObject(_lead_kwargs, body={"body": "sneaky"}),
    # Charlie's export must hold none of Alice's lead ids.
    "GET /api/v1/leads/export.csv": ScopedList(_alice_lead_state),
    "GET /api/v1/custom-fields": ScopedList(_alice_custom_field_ids),
    # Alice's field's key: keys are unique per workspace only, so Charlie gets his own.
    "POST /api/v1/custom-fields": ScopedCreate(
        {"label": "Budget", "kind": "number"}, _alice_custom_field_state
    ),
    "PATCH /api/v1/custom-fields/{field_id}": ForeignObject(
        _alice_custom_field_kwargs, body={"label": "Sneaky", "position": 0}
    ),
    "POST /api/v1/custom-fields/{field_id}/archive": ForeignObject(_alice_custom_field_kwargs),
    "POST /api/v1/custom-fields/{field_id}/restore": ForeignObject(_alice_custom_field_kwargs),
    "GET /api/v1/leads/{lead_id}/calls": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/calls": ForeignObject(
        _lead_kwargs,
        body={"direction": "out", "started_at": "2026-01-05T10:00:00+00:00", "outcome": "busy"},
    ),
    "GET /api/v1/channels/whatsapp": ScopedList(_alice_channel_ids),
    # Alice's number: Charlie is refused (one live channel per number) and hers is untouched.
    "POST /api/v1/channels/whatsapp": ScopedCreate(
        {
            "phone_number_id": "100000000000001",
            "waba_id": "200000000000009",
            "display_phone_number": "+91 90000 00009",
            "access_token": "sneaky-token",
            "app_secret": "sneaky-secret",
            "verify_token": "sneaky-verify",
        },
        _alice_channel_ids,
    ),
    "DELETE /api/v1/channels/whatsapp/{channel_id}": ForeignObject(_alice_channel_kwargs),
    "POST /api/v1/channels/whatsapp/{channel_id}/check": ForeignObject(_alice_channel_kwargs),
    "GET /api/v1/channels/whatsapp/{channel_id}/templates": ForeignObject(_alice_channel_kwargs),
    "GET /api/v1/channels/whatsapp/failed-items": ScopedList(_alice_failed_item_ids),
    "POST /api/v1/channels/whatsapp/failed-items/{item_id}/replay": ForeignObject(
        _alice_failed_item_kwargs
    ),
    "GET /api/v1/leads/{lead_id}/messages": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/messages": ForeignObject(
        _lead_kwargs, body={"type": "text", "text": "sneaky"}
    ),
    "GET /api/v1/leads/{lead_id}/opt-out": ForeignObject(_lead_kwargs),
    "GET /api/v1/opt-outs": ScopedList(_alice_optout_ids),
    "POST /api/v1/leads/{lead_id}/opt-out": ForeignObject(_lead_kwargs),
    "POST /api/v1/leads/{lead_id}/opt-in": ForeignObject(_lead_kwargs),
    "POST /api/v1/workspace/export": ScopedCreate({}, _alice_export_ids),
    "GET /api/v1/workspace/export/{export_id}": ForeignObject(_alice_export_kwargs),
    "GET /api/v1/workspace/export/{export_id}/file": ForeignObject(_alice_export_kwargs),
}


def _url_patterns(patterns=None, prefix: str = "", namespace: str | None = None):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _url_patterns(
                pattern.url_patterns, prefix + str(pattern.pattern), pattern.namespace or namespace
            )
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield name, prefix + str(pattern.pattern)


def _api_operations() -> list[str]:
    schema = api.get_openapi_schema()
    return [
        f"{method.upper()} {path}"
        for path, methods in schema["paths"].items()
        for method in methods
    ]


def test_every_route_is_covered():
    uncovered = [f"{name} ({route})" for name, route in _url_patterns() if name not in ROUTES]
    assert uncovered == [], f"add these routes to the sweep: {uncovered}"


def test_every_api_operation_is_covered():
    uncovered = [op for op in _api_operations() if op not in API_OPERATIONS]
    assert uncovered == [], f"add these API operations to the sweep: {uncovered}"


@pytest.fixture
def populated(world: World) -> World:
    """Give workspace A one of everything the routes expose."""
    for workspace in (world.a, world.b):
        api_key_create(
            workspace=workspace,
            actor=Actor.user("setup", role=Role.OWNER),
            created_by=None,
            name="sweep",
            role=Role.OWNER,
        )
        invitation_create(
            workspace=workspace,
            actor=Actor.user("setup", role=Role.OWNER),
            email=f"invitee@{workspace.slug}.example",
            role=Role.MANAGER,
            invited_by=None,
            base_url="http://testserver",
        )
    return world


def _charlie_key(world: World) -> str:
    return api_key_create(
        workspace=world.b,
        actor=Actor.user("setup", role=Role.OWNER),
        created_by=None,
        name="charlie",
        role=Role.OWNER,
    ).plaintext


@pytest.mark.parametrize(
    "name", sorted(n for n, p in ROUTES.items() if isinstance(p, WorkspacePage))
)
def test_charlie_gets_404_on_every_workspace_page_of_alice(client, populated, name):
    probe = ROUTES[name]
    assert isinstance(probe, WorkspacePage)
    url = reverse(name, kwargs={"slug": populated.a.slug, **probe.kwargs(populated)})
    client.login(email=populated.charlie.email, password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


def _workspace_pages_with_object_ids() -> list[str]:
    """Workspace pages whose URL names an object besides the workspace itself."""
    return sorted(
        name
        for name, route in _url_patterns()
        if isinstance(ROUTES.get(name), WorkspacePage) and route.count("<") > 1
    )


@pytest.mark.parametrize("name", _workspace_pages_with_object_ids())
def test_charlie_gets_404_for_alices_objects_inside_his_own_workspace(client, populated, name):
    """The same object ids under Charlie's own /w/<slug>/: his membership passes the
    middleware, so only the scoped lookup stands between him and Alice's rows."""
    probe = ROUTES[name]
    assert isinstance(probe, WorkspacePage)
    url = reverse(name, kwargs={"slug": populated.b.slug, **probe.kwargs(populated)})
    before = _workspace_a_state(populated)
    client.force_login(populated.charlie)
    # 405: the view does not take that method at all, so it served nothing either.
    assert client.get(url).status_code in (404, 405)
    assert client.post(url, {"role": "sales", "reassign_to": ""}).status_code in (404, 405)
    assert _workspace_a_state(populated) == before


@pytest.mark.parametrize("operation", sorted(API_OPERATIONS))
def test_charlie_cannot_reach_alices_objects_through_the_api(client, populated, operation):
    probe = API_OPERATIONS[operation]
    method, path = operation.split(" ", 1)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {_charlie_key(populated)}"}
    call = getattr(client, method.lower())
    if isinstance(probe, Public):
        return
    if isinstance(probe, ForeignObject):
        state_before = _workspace_a_state(populated)
        url = path.format(**probe.path_params(populated))
        if probe.body is None:
            response = call(url, **headers)
        else:
            response = call(url, probe.body, content_type="application/json", **headers)
        assert response.status_code == 404, response.content
        assert _workspace_a_state(populated) == state_before
        return
    if isinstance(probe, ScopedList):
        # Alice's objects exist before Charlie asks, so a leak would show.
        alice_ids = probe.alice_ids(populated)
        if probe.body is None:
            response = call(path, **headers)
        else:
            response = call(path, probe.body, content_type="application/json", **headers)
        assert response.status_code == 200
        # A streamed download (the CSV export) is read to the end like any other body.
        raw = b"".join(response.streaming_content) if response.streaming else response.content
        body = raw.decode()
        leaked = [uid for uid in alice_ids if uid in body]
        assert leaked == []
        return
    before = probe.alice_ids(populated)
    call(path, probe.body, content_type="application/json", **headers)
    assert probe.alice_ids(populated) == before


@pytest.mark.parametrize("name", sorted(n for n, p in ROUTES.items() if isinstance(p, StaffOnly)))
def test_charlie_gets_404_on_every_platform_console_route(client, populated, name):
    probe = ROUTES[name]
    assert isinstance(probe, StaffOnly)
    url = reverse(name, kwargs=probe.kwargs(populated))
    client.login(email=populated.charlie.email, password=PASSWORD)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404


@pytest.mark.parametrize(
    "name", sorted(n for n, p in ROUTES.items() if isinstance(p, WorkspacePage))
)
def test_platform_staff_get_404_on_every_workspace_page_of_alice(client, populated, name):
    """Staff are not members, so the admin role never reads a workspace's content (P27)."""
    probe = ROUTES[name]
    assert isinstance(probe, WorkspacePage)
    url = reverse(name, kwargs={"slug": populated.a.slug, **probe.kwargs(populated)})
    staff = User.objects.create_user("ops@platform.example", PASSWORD, is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 404
    assert client.post(url).status_code == 404
