"""Opt-out and re-subscribe keywords: the built-in lists, a workspace's own additions, and
matching an inbound message against them (PRODUCT.md "Opt-out, exactly").

Keyword matching is on the whole message after normalisation (Unicode form, case,
punctuation, spacing), so "STOP!" opts out and "don't stop the delivery" does not.
"""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.services import audit_record
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import MessagingSettings
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Capability, require_capability

Action = Literal["opt_out", "opt_in"]

DEFAULT_OPTOUT_KEYWORDS: tuple[str, ...] = (
    "stop",
    "stop all",
    "unsubscribe",
    "cancel",
    "end",
    "quit",
    "opt out",
    "optout",
    "stop promotions",
    # Hindi and Hinglish
    "रोकें",
    "रोको",
    "रोक दो",
    "बंद करें",
    "बंद करो",
    "बंद कर दो",
    "मैसेज बंद करो",
    "band karo",
    "band kar do",
    "band karen",
    "rok do",
    "roko",
    "mat bhejo",
    "message mat bhejo",
)
DEFAULT_OPTIN_KEYWORDS: tuple[str, ...] = (
    "start",
    "subscribe",
    "unstop",
    "resume",
    # Hindi and Hinglish
    "शुरू करें",
    "शुरू करो",
    "फिर से शुरू करें",
    "chalu karo",
    "shuru karo",
    "fir se shuru karo",
)
KEYWORD_MAX_LENGTH = 40
EXTRA_KEYWORDS_MAX = 30

CONFIRM_OPT_OUT_TEXT = (
    "You will not get any more messages from us. Reply START at any time to hear from us again."
)
CONFIRM_OPT_IN_TEXT = "Welcome back! You will get our messages again. Reply STOP to opt out."


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    action: Action
    keyword: str


def normalise_message(text: str) -> str:
    """Compatibility form, case-folded, punctuation and symbols as spaces, spaces collapsed.

    Combining marks stay (Devanagari vowel signs are marks); invisible format characters
    such as zero-width joiners are dropped rather than turned into word breaks.
    """
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    kept: list[str] = []
    for ch in folded:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category[0] in {"P", "S", "Z", "C"} else ch)
    return " ".join("".join(kept).split())


KeywordSets = tuple[frozenset[str], frozenset[str]]
# Every inbound text is checked against its workspace's keywords, so the sets are kept per
# process for a few seconds instead of being read for each message. keywords_update clears
# this process's copy at once; other processes (workers) see a change within the TTL.
KEYWORD_CACHE_SECONDS = 10.0
_keyword_cache: dict[object, tuple[float, KeywordSets]] = {}


def _keyword_sets(workspace: Workspace) -> KeywordSets:
    cached = _keyword_cache.get(workspace.pk)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    with workspace_scope(workspace):
        extra = MessagingSettings.objects.first()
    optout = [*DEFAULT_OPTOUT_KEYWORDS, *(extra.extra_optout_keywords if extra else [])]
    optin = [*DEFAULT_OPTIN_KEYWORDS, *(extra.extra_optin_keywords if extra else [])]
    sets = (
        frozenset(filter(None, map(normalise_message, optout))),
        frozenset(filter(None, map(normalise_message, optin))),
    )
    _keyword_cache[workspace.pk] = (time.monotonic() + KEYWORD_CACHE_SECONDS, sets)
    return sets


def _forget_keywords(workspace_id: object) -> None:
    _keyword_cache.pop(workspace_id, None)


def match_keyword(*, workspace: Workspace, text: str | None) -> KeywordMatch | None:
    """The opt-out or re-subscribe keyword the whole message is, if it is one."""
    if not text or len(text) > 200:
        return None
    normalised = normalise_message(text)
    if not normalised:
        return None
    optout, optin = _keyword_sets(workspace)
    if normalised in optout:
        return KeywordMatch(action="opt_out", keyword=normalised)
    if normalised in optin:
        return KeywordMatch(action="opt_in", keyword=normalised)
    return None


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
    clash = set(extra_out) & (set(extra_in) | set(map(normalise_message, DEFAULT_OPTIN_KEYWORDS)))
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
