"""Signup, the team page and an invitation in a real Chromium under the real CSP: nothing
blocked, htmx swaps rows in place, and the pages fit a phone."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core import mail

from heroshhi.accounts.models import User
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create
from heroshhi.workspaces.tests.helpers import TOKEN_IN_LINK

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
PASSWORD = "correct horse battery 42"
# Runs before any page script and outside the page's CSP; records every violation.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


@pytest.fixture(autouse=True)
def _allow_orm_beside_playwright(monkeypatch: pytest.MonkeyPatch) -> None:
    # Playwright's sync API leaves an event loop marked as running in this thread.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.add_init_script(RECORD_CSP_VIOLATIONS)
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    return problems


def _assert_clean(page: Any, problems: list[str]) -> None:
    assert page.evaluate("window.__cspViolations") == []
    assert problems == []


def test_signup_team_and_invitation_in_a_browser(
    transactional_db: None, live_server: Any, browser: Any
) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    owner = browser.new_context(viewport={"width": 1280, "height": 800})
    page = owner.new_page()
    problems = _watch(page)

    page.goto(f"{live_server.url}/signup/")
    page.get_by_label("Business name").fill("Sharma Motors")
    page.get_by_label("Your name").fill("Ravi Sharma")
    page.get_by_label("E-mail address").fill("ravi@sharma.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{live_server.url}/w/sharma-motors/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome, Ravi Sharma")
    _assert_clean(page, problems)

    # Bob joins as sales, so there is someone to promote.
    workspace = Workspace.objects.get(slug="sharma-motors")
    bob = User.objects.create_user(email="bob@sharma.example", password=PASSWORD, full_name="Bob")
    bob_seat = membership_create(workspace=workspace, user=bob, role=Role.SALES)

    page.goto(f"{live_server.url}/w/sharma-motors/team/")
    page.evaluate("window.__samePage = true")
    row = page.locator(f"#member-{bob_seat.pk}")
    row.get_by_label("Role of Bob").select_option("manager")
    # The select already shows the choice, so wait for the server's answer before reading it.
    with page.expect_response(re.compile(r"/team/members/[0-9a-f-]+/role/$")) as saved:
        row.get_by_role("button", name="Save").click()
    assert saved.value.ok
    expect(page.locator(f"#member-{bob_seat.pk}").get_by_label("Role of Bob")).to_have_value(
        "manager"
    )
    assert page.evaluate("window.__samePage") is True  # swapped in place, no reload
    # Checked through the page, not the ORM: this thread must not query SQLite while the
    # live server may still be busy (shared-cache tables lock as a whole).
    page.reload()
    expect(page.locator(f"#member-{bob_seat.pk}").get_by_label("Role of Bob")).to_have_value(
        "manager"
    )

    for address in ("neha@sharma.example", "temp@sharma.example"):
        page.get_by_label("E-mail address").fill(address)
        page.get_by_label("Role", exact=True).select_option("sales")
        page.get_by_role("button", name="Send invitation").click()
        expect(page.get_by_text(address)).to_be_visible()
    assert [m.to for m in mail.outbox] == [["neha@sharma.example"], ["temp@sharma.example"]]

    page.evaluate("window.__samePage = true")
    temp_row = page.locator(".team-list__item", has_text="temp@sharma.example")
    temp_row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("temp@sharma.example")).to_have_count(0)
    assert page.evaluate("window.__samePage") is True
    page.screenshot(path=ARTIFACTS / "team-desktop.png", full_page=True)
    _assert_clean(page, problems)

    page.set_viewport_size({"width": 360, "height": 740})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.screenshot(path=ARTIFACTS / "team-phone.png", full_page=True)
    _assert_clean(page, problems)

    # Neha follows her link in a browser of her own and creates her account.
    match = TOKEN_IN_LINK.search(str(mail.outbox[0].body))
    assert match
    neha = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    neha_page = neha.new_page()
    neha_problems = _watch(neha_page)
    neha_page.goto(f"{live_server.url}/invitations/{match.group(1)}/")
    expect(neha_page).to_have_url(f"{live_server.url}/invitations/accept/")
    expect(neha_page.get_by_role("heading", level=1)).to_have_text("Join Sharma Motors")
    neha_page.screenshot(path=ARTIFACTS / "invitation-phone.png", full_page=True)
    neha_page.get_by_label("Your name").fill("Neha Gupta")
    neha_page.get_by_label("Choose a password").fill(PASSWORD)
    neha_page.get_by_label("Password again").fill(PASSWORD)
    neha_page.get_by_role("button", name="Create account and join").click()
    expect(neha_page).to_have_url(f"{live_server.url}/w/sharma-motors/")
    assert neha_page.evaluate("document.documentElement.scrollWidth") <= 390
    _assert_clean(neha_page, neha_problems)

    for context in (owner, neha):
        context.close()
