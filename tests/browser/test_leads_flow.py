"""An owner works one lead end to end in a real browser under the real CSP: create it, move
it on the board, add a note and a task, find it by a differently written phone number,
trash it and restore it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, ViewportSize, expect

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.workspaces.services import workspace_create
from tests.browser.test_login_flow import PageWatch

pytestmark = pytest.mark.browser

EMAIL = "asha@shop.example"
PASSWORD = "correct horse battery 42"
SLUG = "asha-shop"
LEAD = "Priya Sharma"
DESKTOP = ViewportSize(width=1280, height=800)


def _column(page: Page, stage: str) -> Any:
    heading = page.get_by_role("heading", level=2, name=re.compile(rf"^{stage}\b"))
    return page.locator(".board__column").filter(has=heading)


def test_an_owner_works_a_lead_from_creation_to_restore(
    transactional_db: None, live_server: Any, browser: Browser, artifacts: Path
) -> None:
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    workspace_create(actor=Actor.system(), name="Asha Shop", slug=SLUG, owner=user)
    base = f"{live_server.url}/w/{SLUG}/leads"

    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    watch = PageWatch(page)

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/w/{SLUG}/")

    # Create.
    page.goto(f"{base}/new/")
    page.get_by_label("Name", exact=True).fill(LEAD)
    page.get_by_label("Phone", exact=True).fill("98765 43210")
    page.get_by_role("button", name="Save lead").click()
    expect(page.get_by_text("Lead added.")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(LEAD)
    expect(page.get_by_text("+919876543210", exact=True)).to_be_visible()
    detail_url = page.url
    page.screenshot(path=artifacts / "leads-created.png", full_page=True)

    # The board: move the card with its "Move to" select (htmx swaps the card in place).
    page.goto(f"{base}/board/")
    expect(_column(page, "New").get_by_role("link", name=LEAD)).to_be_visible()
    card = page.locator("[data-board-card]").filter(has=page.get_by_role("link", name=LEAD))
    with page.expect_response(re.compile(r"/board/[0-9a-f-]+/move/$")) as moved:
        card.get_by_label("Move to").select_option(label="Contacted")
    assert moved.value.status == 200
    expect(_column(page, "Contacted").get_by_role("link", name=LEAD)).to_be_visible()
    expect(_column(page, "New").get_by_role("link", name=LEAD)).to_have_count(0)
    page.screenshot(path=artifacts / "leads-board-moved.png", full_page=True)
    page.reload()
    expect(_column(page, "Contacted").get_by_role("link", name=LEAD)).to_be_visible()

    # Open it: the stage stuck; add a note and a task.
    _column(page, "Contacted").get_by_role("link", name=LEAD).click()
    expect(page).to_have_url(detail_url)
    expect(page.locator(".page-header__lead")).to_contain_text("Contacted")
    page.get_by_label("Note", exact=True).fill("Wants a 2BHK near Baner")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_text("Wants a 2BHK near Baner")).to_be_visible()
    due = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT10:00")
    page.get_by_label("Task", exact=True).fill("Send the brochure")
    page.get_by_label("Due", exact=True).fill(due)
    page.get_by_role("button", name="Add task").click()
    expect(page.get_by_text("Send the brochure")).to_be_visible()
    timeline = page.locator(".leads-timeline")
    expect(timeline).to_contain_text("Stage changed")
    expect(timeline).to_contain_text("Note added")
    expect(timeline).to_contain_text("Task added")
    page.screenshot(path=artifacts / "leads-detail-note-task.png", full_page=True)

    # Search the list by the same phone, written differently; the term is posted.
    page.goto(f"{base}/")
    page.get_by_label("Search", exact=True).fill("+91 98765 43210")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(f"{base}/")
    results = page.locator(".leads-table tbody")
    expect(results.get_by_role("link", name=LEAD)).to_be_visible()
    page.screenshot(path=artifacts / "leads-search-phone.png", full_page=True)

    # Trash, find it in the trash, restore.
    results.get_by_role("link", name=LEAD).click()
    page.get_by_role("button", name="Move to trash").click()
    expect(page.get_by_text("Lead moved to the trash.")).to_be_visible()
    expect(page.locator(".leads-table tbody").get_by_role("link", name=LEAD)).to_have_count(0)
    page.get_by_role("link", name="Trash").click()
    row = page.locator(".leads-table tbody tr").filter(has_text=LEAD)
    expect(row).to_have_count(1)
    page.screenshot(path=artifacts / "leads-trash.png", full_page=True)
    row.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("Lead restored.")).to_be_visible()
    expect(page).to_have_url(detail_url)
    expect(page.locator(".leads-timeline")).to_contain_text("Restored")
    page.screenshot(path=artifacts / "leads-restored.png", full_page=True)

    watch.assert_clean()
    context.close()
