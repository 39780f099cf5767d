"""Opt-out and re-subscribe keywords of a workspace: its own additions to the built-in
lists, and matching an inbound message against both (PRODUCT.md "Opt-out, exactly").

The lists and the matcher itself live in ``keyword_matcher``: a pure function that decides
on the whole message, so "STOP!" and "band kar do please" opt out and "don't stop the
delivery" does not. This module keeps each workspace's table for a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.keyword_matcher import (
    BUILT_IN,
    MESSAGE_MAX_CHARS,
    KeywordMatch,
    KeywordTable,
    keyword_table,
    normalise_message,
)
from heroshhi.messaging.models import MessagingSettings
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

KEYWORD_MAX_LENGTH = 40
EXTRA_KEYWORDS_MAX = 30

CONFIRM_OPT_OUT_TEXT = (
    "You will not get any more messages from us. Reply START at any time to hear from us again."
)
CONFIRM_OPT_IN_TEXT = "Welcome back! You will get our messages again. Reply STOP to opt out."


# Every inbound text is checked against its workspace's keywords, so the table is kept per
# process for a few seconds instead of being read for each message. keywords_update clears
# this process's copy at once; other processes (workers) see a change within the TTL.
KEYWORD_CACHE_SECONDS = 10.0
_keyword_cache: dict[object, tuple[float, KeywordTable]] = {}


def _keyword_table(workspace: Workspace) -> KeywordTable:
    cached = _keyword_cache.get(workspace.pk)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with workspace_scope(workspace):
        extra = MessagingSettings.objects.first()
    table = keyword_table(
        extra_optout=extra.extra_optout_keywords if extra else (),
        extra_optin=extra.extra_optin_keywords if extra else (),
    )
    _keyword_cache[workspace.pk] = (time.monotonic() + KEYWORD_CACHE_SECONDS, table)
    return table


def _forget_keywords(workspace_id: object) -> None:
    _keyword_cache.pop(workspace_id, None)


def match_keyword(*, workspace: Workspace, text: str | None) -> KeywordMatch | None:
    """The opt-out or re-subscribe keyword the whole message is, if it is one."""
    if not text or len(text) > MESSAGE_MAX_CHARS:
        return None  # never a keyword, so not worth reading the workspace's lists
    return _keyword_table(workspace).match(text)


def _clean_keywords(values: Iterable[str], *, field: str) -> list[str]:
    cleaned: list[str] = []
    for value in values:
        keyword = normalise_message(value)
        if not keyword:
            continue
        if len(keyword) > KEYWORD_MAX_LENGTH:
            raise ValidationError(
                {
                    field: [
                        _("Keep each keyword under %(n)s characters.") % {"n": KEYWORD_MAX_LENGTH}
                    ]
                }
            )
        if keyword not in cleaned:
            cleaned.append(keyword)
    if len(cleaned) > EXTRA_KEYWORDS_MAX:
        raise ValidationError(
            {field: [_("At most %(n)s extra keywords.") % {"n": EXTRA_KEYWORDS_MAX}]}
        )
    return cleaned


@transaction.atomic
def keywords_update(
    *, workspace: Workspace, actor: Actor, optout: Iterable[str], optin: Iterable[str]
) -> MessagingSettings:
    """The workspace's own keywords, added to the built-in lists (never replacing them)."""
    require_capability(actor.role or "", Capability.CHANNELS_MANAGE)
    extra_out = _clean_keywords(optout, field="extra_optout_keywords")
    extra_in = _clean_keywords(optin, field="extra_optin_keywords")
    clash = set(extra_out) & set(extra_in) or {
        keyword for keyword in extra_out if "opt_in" in BUILT_IN.actions_of(keyword)
    }
    if clash:
        raise ValidationError(
            {"extra_optout_keywords": [_("A keyword cannot both opt out and opt back in.")]}
        )
    with workspace_scope(workspace):
        settings_row, _created = MessagingSettings.objects.get_or_create(workspace=workspace)
        settings_row.extra_optout_keywords = extra_out
        settings_row.extra_optin_keywords = extra_in
        settings_row.updated_at = timezone.now()
        settings_row.save()
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditAction.MESSAGING_SETTINGS_UPDATED,
            target=("messaging_settings", settings_row.pk),
            metadata={"optout_keywords": len(extra_out), "optin_keywords": len(extra_in)},
        )
    # Now, so a read later in this transaction sees the new lists, and again on commit, so
    # a read that raced the transaction does not keep the old ones for the whole TTL.
    _forget_keywords(workspace.pk)
    transaction.on_commit(lambda: _forget_keywords(workspace.pk))
    return settings_row
