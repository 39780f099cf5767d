"""Input of the platform console: the list filters and the status-change reason."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from heroshhi.core.forms import PlainTextForm
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.platform_admin.selectors import SEARCH_MAX_LENGTH
from heroshhi.workspaces.platform_admin.services import REASON_LABELS


class WorkspaceFilterForm(PlainTextForm):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        help_text=_("Workspace name or slug."),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        choices=[("", _("Any status")), *Workspace.Status.choices],
    )


class StatusChangeForm(PlainTextForm):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=[("", _("Choose a reason")), *REASON_LABELS.items()],
        help_text=_("Recorded in the audit log of the platform and of the workspace."),
    )
