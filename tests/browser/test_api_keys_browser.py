"""The API keys page in a real Chromium under the real CSP: a key is created and shown once,
then revoked in place by htmx, and the page fits a phone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ViewportSize, expect

from tests.browser.test_login_flow import PageWatch

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery 42"
DESKTOP = ViewportSize(width=1280, height=800)
NARROWEST = ViewportSize(width=360, height=740)


def test_an_owner_creates_and_revokes_a_key_in_a_browser(
    transactional_db: None, live_server: Any, browser: Browser, artifacts: Path
) -> None:
    base = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    watch = PageWatch(page)
    page.goto(f"{base}/signup/")
    page.get_by_label("Business name").fill("Sharma Motors")
    page.get_by_label("Your name").fill("Ravi Sharma")
    page.get_by_label("E-mail address").fill("ravi@sharma.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="API keys").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/settings/api-keys/")
    expect(page.get_by_text("No API keys yet")).to_be_visible()

    page.get_by_label("Name").fill("Website form")
    page.get_by_label("Role", exact=True).select_option("sales")
    page.get_by_role("button", name="Create key").click()
    new_key = page.get_by_label("New API key")
    expect(new_key).to_have_text(re.compile(r"^hx_[0-9a-f]{8}_\S{20,}$"))
    plaintext = new_key.inner_text()
    expect(page.get_by_text("It won't be shown again")).to_be_visible()
    page.screenshot(path=artifacts / "api-keys-created-desktop.png", full_page=True)
    watch.assert_clean()

    page.goto(f"{base}/w/sharma-motors/settings/api-keys/")
    expect(page.get_by_role("row", name="Website form")).to_contain_text("Active")
    assert plaintext not in page.content()
    page.evaluate("window.__samePage = true")
    row = page.get_by_role("row", name="Website form")
    row.get_by_role("button", name="Revoke Website form").click()
    expect(row).to_contain_text("Revoked")
    expect(row.get_by_role("button")).to_have_count(0)
    assert page.evaluate("window.__samePage") is True  # swapped in place, no reload
    page.screenshot(path=artifacts / "api-keys-desktop.png", full_page=True)
    watch.assert_clean()

    page.set_viewport_size(NARROWEST)
    page.reload()
    # The table scrolls inside its card; the page itself never scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROWEST["width"]
    page.screenshot(path=artifacts / "api-keys-phone.png", full_page=True)
    watch.assert_clean()
    context.close()
