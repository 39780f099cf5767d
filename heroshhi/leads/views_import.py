"""CSV import pages under /w/<slug>/leads/import/ (owners and managers): upload → map
columns → progress (htmx polling) → result with the error report download."""

from __future__ import annotations

import csv
import io
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from heroshhi.core.forms import PlainTextForm
from heroshhi.core.tenancy import get_in_scope_or_404
from heroshhi.leads import importing
from heroshhi.leads.export import BOM
from heroshhi.leads.models import ImportMapping, LeadImport
from heroshhi.leads.services import imports
from heroshhi.leads.views import _actor, _membership, _workspace
from heroshhi.workspaces.permissions import Capability, require_capability


class UploadForm(PlainTextForm):
    file = forms.FileField(label=_("CSV file"))


def _import(request: HttpRequest, import_id: uuid.UUID) -> LeadImport:
    require_capability(_membership(request).role, Capability.LEADS_IMPORT)
    return get_in_scope_or_404(LeadImport.objects.all(), import_id)


@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    require_capability(_membership(request).role, Capability.LEADS_IMPORT)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            lead_import = imports.lead_import_create(
                workspace=_workspace(request),
                actor=_actor(request),
                member=_membership(request),
                upload=form.cleaned_data["file"],
            )
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error("file", message)
        else:
            return redirect("leads:import_map", slug=slug, import_id=lead_import.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "leads/import_upload.html", {"form": form}, status=status)


def _initial_mapping(
    request: HttpRequest, headers: list[str], targets: dict[str, object]
) -> tuple[dict[str, str], ImportMapping | None, bool]:
    """The mapping to show first: a saved one picked from the list, else a saved one made
    for the same headings, else a guess. Returns (mapping, saved used, matched by headings)."""
    workspace = _workspace(request)
    picked = request.GET.get("saved", "")
    saved = None
    if picked:
        saved = next(
            (m for m in importing.import_mappings_list(workspace=workspace) if str(m.pk) == picked),
            None,
        )
    matched = False
    if saved is None and not picked:
        saved = importing.saved_mapping_for(workspace=workspace, headers=headers)
        matched = saved is not None
    if saved is not None:
        return (
            importing.apply_saved_mapping(saved, headers=headers, targets=targets),
            saved,
            matched,
        )
    return importing.guess_mapping(headers, targets), None, False


@require_http_methods(["GET", "POST"])
def import_map(request: HttpRequest, slug: str, import_id: uuid.UUID) -> HttpResponse:
    lead_import = _import(request, import_id)
    if lead_import.status != LeadImport.Status.UPLOADED:
        return redirect("leads:import_progress", slug=slug, import_id=lead_import.pk)
    workspace = _workspace(request)
    headers = importing.headers_of(lead_import)
    targets = importing.targets_for(workspace)
    mapping, saved, matched = _initial_mapping(request, headers, targets)
    errors: list[str] = []
    save_as = ""
    if request.method == "POST":
        mapping = {str(i): request.POST.get(f"col{i}", "") for i in range(len(headers))}
        save_as = request.POST.get("save_as", "").strip()
        try:
            if save_as:
                imports.import_mapping_save(
                    workspace=workspace,
                    actor=_actor(request),
                    member=_membership(request),
                    lead_import=lead_import,
                    name=save_as,
                    mapping=mapping,
                )
            imports.lead_import_start(
                workspace=workspace,
                actor=_actor(request),
                lead_import=lead_import,
                mapping=mapping,
            )
        except ValidationError as exc:
            errors = exc.messages
        else:
            return redirect("leads:import_progress", slug=slug, import_id=lead_import.pk)
    parsed = importing.parse(lead_import.content)
    columns = [
        {"index": i, "header": header, "name": f"col{i}", "selected": mapping.get(str(i), "")}
        for i, header in enumerate(headers)
    ]
    preview = [cells for _number, cells in parsed.rows[: importing.PREVIEW_ROWS]]
    context = {
        "lead_import": lead_import,
        "columns": columns,
        "fields": list(targets.items()),
        "preview": preview,
        "errors": errors,
        "saved_mappings": importing.import_mappings_list(workspace=workspace),
        "saved": saved,
        "matched": matched,
        "save_as": save_as,
    }
    return render(request, "leads/import_map.html", context, status=400 if errors else 200)


@require_GET
def import_progress(request: HttpRequest, slug: str, import_id: uuid.UUID) -> HttpResponse:
    lead_import = _import(request, import_id)
    template = "leads/import_progress.html"
    if request.headers.get("HX-Request"):
        template += "#import-status"
    return render(request, template, {"lead_import": lead_import})


@require_GET
def import_report(request: HttpRequest, slug: str, import_id: uuid.UUID) -> HttpResponse:
    lead_import = _import(request, import_id)
    content = lead_import.error_report
    if not content:
        buffer = io.StringIO()
        csv.writer(buffer).writerow(importing.REPORT_COLUMNS)
        content = BOM + buffer.getvalue()
    response = HttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="import-errors.csv"'
    response["Cache-Control"] = "no-store"
    return response
