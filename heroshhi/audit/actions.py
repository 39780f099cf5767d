"""The closed vocabulary of audit events.

Names follow the OWASP Logging Vocabulary (``authn_*``, ``authz_*``, ``<thing>_<verb>``) so
that a reviewer or a SIEM rule can match on them without reading code. The list is fixed on
purpose: a new kind of event is a reviewed change to this file plus a migration (the model
stores the choices), never a free-form string made up at a call site.
"""

from __future__ import annotations

from enum import StrEnum


class AuditAction(StrEnum):
    # Authentication
    AUTHN_LOGIN_SUCCESS = "authn_login_success"
    AUTHN_LOGIN_FAIL = "authn_login_fail"
    AUTHN_LOCKOUT = "authn_lockout"
    # An owner ended a member's sign-in lock: a decision by a person, not a throttle firing.
    AUTHN_LOCKOUT_RELEASED = "authn_lockout_released"
    AUTHN_LOGOUT = "authn_logout"
    # Event names, not secrets (the linter sees "password" in them).
    AUTHN_PASSWORD_CHANGE = "authn_password_change"  # noqa: S105
    AUTHN_PASSWORD_RESET = "authn_password_reset"  # noqa: S105
    AUTHN_MFA_FAIL = "authn_mfa_fail"
    MFA_ENABLED = "mfa_enabled"
    MFA_DISABLED = "mfa_disabled"
    # Authorisation
    AUTHZ_FAIL = "authz_fail"
    # People, membership and credentials
    USER_CREATED = "user_created"
    USER_DELETED = "user_deleted"
    INVITATION_SENT = "invitation_sent"
    INVITATION_ACCEPTED = "invitation_accepted"
    INVITATION_REVOKED = "invitation_revoked"
    MEMBER_ROLE_CHANGED = "member_role_changed"
    MEMBER_REMOVED = "member_removed"
    API_KEY_CREATED = "api_key_created"
    API_KEY_REVOKED = "api_key_revoked"
    # Workspaces and keys
    WORKSPACE_CREATED = "workspace_created"
    WORKSPACE_SUSPENDED = "workspace_suspended"
    WORKSPACE_REACTIVATED = "workspace_reactivated"
    WORKSPACE_TERMINATED = "workspace_terminated"
    WORKSPACE_KEY_ROTATED = "workspace_key_rotated"
    MASTER_KEY_ROTATED = "master_key_rotated"
    WORKSPACE_KEYS_DESTROYED = "workspace_keys_destroyed"
    # Data access and movement
    SENSITIVE_READ = "sensitive_read"
    DATA_EXPORT = "data_export"
    DATA_IMPORT = "data_import"
    DATA_DELETE = "data_delete"
    # Leads
    LEAD_CREATED = "lead_created"
    LEAD_UPDATED = "lead_updated"
    LEAD_MERGED = "lead_merged"
    LEAD_DELETED = "lead_deleted"
    LEAD_RESTORED = "lead_restored"
    # Consent and messaging
    OPTOUT_RECORDED = "optout_recorded"
    OPTIN_RECORDED = "optin_recorded"
    WEBHOOK_SIGNATURE_INVALID = "webhook_signature_invalid"
    INBOUND_ITEM_REPLAYED = "inbound_item_replayed"
    CHANNEL_CREATED = "channel_created"
    CHANNEL_UPDATED = "channel_updated"
    CHANNEL_DELETED = "channel_deleted"
    TEMPLATES_SYNCED = "templates_synced"
    MESSAGE_SENT = "message_sent"
    # A send stopped by a rule (opted out, outside the window, restricted).
    MESSAGE_REFUSED = "message_refused"
    CONVERSATION_UPDATED = "conversation_updated"
    CALL_LOGGED = "call_logged"
    MESSAGING_SETTINGS_UPDATED = "messaging_settings_updated"
    # Privacy and retention
    PRIVACY_REQUEST_CREATED = "privacy_request_created"
    PRIVACY_REQUEST_COMPLETED = "privacy_request_completed"
    RETENTION_RUN = "retention_run"
    RETENTION_POLICY_UPDATED = "retention_policy_updated"
    PRIVACY_SETTINGS_UPDATED = "privacy_settings_updated"
    PRIVACY_REQUEST_UPDATED = "privacy_request_updated"
    CONSENT_RECORDED = "consent_recorded"
    LEAD_RESTRICTED = "lead_restricted"
    LEAD_RESTRICTION_LIFTED = "lead_restriction_lifted"
    INCIDENT_RECORDED = "incident_recorded"
    AUDIT_PURGED = "audit_purged"
    # Two-factor recovery data (a new set of recovery codes replaces the old one)
    MFA_RECOVERY_CODES_REGENERATED = "mfa_recovery_codes_regenerated"
    # Pipeline configuration (stages are workspace settings, not leads)
    STAGE_CREATED = "stage_created"
    STAGE_UPDATED = "stage_updated"
    STAGE_DELETED = "stage_deleted"
    # Lead assignment rules (mode, source mapping, unassigned pool)
    ASSIGNMENT_SETTINGS_UPDATED = "assignment_settings_updated"
    # Workspace-defined lead fields and saved import mappings
    CUSTOM_FIELD_CREATED = "custom_field_created"
    CUSTOM_FIELD_UPDATED = "custom_field_updated"
    CUSTOM_FIELD_DELETED = "custom_field_deleted"
    IMPORT_MAPPING_SAVED = "import_mapping_saved"


class Outcome(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    # Refused by a permission or policy check, as opposed to an error.
    DENIED = "denied"


AUDIT_ACTION_CHOICES: list[tuple[str, str]] = [(a.value, a.value) for a in AuditAction]
OUTCOME_CHOICES: list[tuple[str, str]] = [(o.value, o.value) for o in Outcome]
