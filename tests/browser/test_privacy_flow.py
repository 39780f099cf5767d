"""An owner answers a contact's privacy requests in a real browser under the real CSP: the
compliance page, an access request with its one-time download, then an erasure with its
receipt."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.notes import note_add
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import workspace_create
from tests.browser.test_login_flow import PageWatch

pytestmark = pytest.mark.browser

EMAIL = "kavya@studio.example"
PASSWORD = "correct horse battery 42"
SLUG = "kavya-studio"
LEAD = "Arjun Menon"
NOTE = "Wants a quote for a kitchen in teak"
DESKTOP = ViewportSize(width=1280, height=900)


def test_an_owner_answers_access_then_erasure(
    transactional_db: None, live_server: Any, browser: Browser, artifacts: Path
) -> None:
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    workspace = workspace_create(actor=Actor.system(), name="Kavya Studio", slug=SLUG, owner=user)
    owner = Actor.user(user.pk, role=Role.OWNER)
    lead = lead_create(
        workspace=workspace,
        actor=owner,
        name=LEAD,
        phone="98470 12345",
        email=None,
        source="manual",
    ).lead
    note_add(workspace=workspace, actor=owner, lead=lead, body=NOTE)
    base = f"{live_server.url}/w/{SLUG}"

    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/")

    # The compliance page: every promise with its evidence.
    page.goto(f"{base}/privacy/compliance/")
    expect(page.get_by_role("heading", level=1, name="Compliance")).to_be_visible()
    expect(page.locator("[data-coverage]")).to_have_text("100%")
    expect(page.get_by_text("No open requests.")).to_be_visible()
    page.get_by_role("button", name="Verify the activity log now").click()
    expect(page.locator("[data-chain-state]")).to_have_attribute("data-chain-state", "ok")
    page.screenshot(path=artifacts / "privacy-compliance.png", full_page=True)

    # An access request, recorded from the lead's page.
    page.goto(f"{base}/leads/{lead.pk}/")
    page.get_by_role("link", name="New privacy request").click()
    page.get_by_label("The person asks for").select_option("access")
    page.get_by_label("Received by").select_option("email")
    page.get_by_role("button", name="Record request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Access")
    request_url = page.url

    # Prepare the one-time download and fetch it.
    page.get_by_label("Format").select_option("json")
    page.get_by_role("button", name="Prepare download").click()
    link = page.locator("[data-download-link]")
    expect(link).to_be_visible()
    page.screenshot(path=artifacts / "privacy-access-request.png", full_page=True)
    with page.expect_download() as download_info:
        link.click()
    download = download_info.value
    assert re.fullmatch(r"subject-PR-[A-Z0-9]{8}-\d{8}\.json", download.suggested_filename)
    saved = artifacts / "privacy-access-export.json"
    download.save_as(saved)
    report = json.loads(saved.read_text())
    assert report["lead"]["name"] == LEAD
    assert [note["body"] for note in report["notes"]] == [NOTE]
    assert "consent" in report
    saved.unlink()  # personal data does not stay among the artifacts

    # The compliance page now lists the open request with its due date.
    page.goto(f"{base}/privacy/compliance/")
    expect(page.locator("[data-evidence=requests]").get_by_role("link")).to_have_count(1)

    # Erasure: a second request, then the confirmation, then the receipt.
    page.goto(f"{base}/leads/{lead.pk}/")
    page.get_by_role("link", name="New privacy request").click()
    page.get_by_label("The person asks for").select_option("erasure")
    page.get_by_label("Received by").select_option("email")
    page.get_by_role("button", name="Record request").click()
    page.get_by_role("link", name="Erase…").click()
    page.get_by_label(re.compile("I understand")).check()
    page.get_by_role("button", name="Erase now").click()
    expect(page.get_by_text("The lead was erased. The receipt is below.")).to_be_visible()
    receipt = page.locator("[data-receipt]")
    expect(receipt.get_by_role("heading", name="Erasure receipt")).to_be_visible()
    expect(receipt.get_by_text("leads.Lead", exact=True)).to_be_visible()
    expect(receipt.get_by_text("leads.Note", exact=True)).to_be_visible()
    expect(page.get_by_text(LEAD)).to_have_count(0)
    page.screenshot(path=artifacts / "privacy-erasure-receipt.png", full_page=True)

    # The access request's subject is gone too: its page says so instead of failing.
    page.goto(request_url)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Access")
    # And the lead itself is gone (asked outside the page, so no console noise).
    assert page.request.get(f"{base}/leads/{lead.pk}/").status == 404

    watch.assert_clean()
    context.close()
