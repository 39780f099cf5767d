"""Sign in with a real browser under the real CSP: nothing blocked, htmx and app.js alive."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize, expect

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.workspaces.services import workspace_create

pytestmark = pytest.mark.browser

EMAIL = "asha@shop.example"
PASSWORD = "correct horse battery 42"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
NARROWEST = ViewportSize(width=360, height=740)

# Runs before any page script and is not subject to the page's CSP; records every report.
RECORD_CSP_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


class PageWatch:
    """Console errors, uncaught exceptions and CSP violations seen by one page."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.add_init_script(RECORD_CSP_VIOLATIONS)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def assert_clean(self) -> None:
        csp_errors = [e for e in self.console_errors if "Content Security Policy" in e]
        assert csp_errors == []
        assert self.page.evaluate("window.__cspViolations") == []
        assert self.console_errors == []
        assert self.page_errors == []


def _sign_in(page: Page, *, password: str) -> None:
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_user_signs_in_and_lands_on_home(
    transactional_db: None, live_server: Any, browser: Browser, artifacts: Path
) -> None:
    user = User.objects.create_user(email=EMAIL, password=PASSWORD)
    workspace_create(actor=Actor.system(), name="Asha Shop", slug="asha-shop", owner=user)

    desktop = browser.new_context(viewport=DESKTOP)
    page = desktop.new_page()
    watch = PageWatch(page)

    response = page.goto(f"{live_server.url}/accounts/login/")
    assert response is not None
    assert response.status == 200
    policy = response.headers["content-security-policy"]
    assert "'nonce-" in policy
    assert "script-src-attr 'none'" in policy
    assert "unsafe-inline" not in policy
    page.wait_for_function("() => window.htmx && window.htmx.version.startsWith('2')")
    expect(page.get_by_label("E-mail address")).to_be_focused()
    page.screenshot(path=artifacts / "login-desktop.png", full_page=True)
    watch.assert_clean()

    _sign_in(page, password="not the password")
    expect(page.get_by_role("alert")).to_contain_text("do not match an active account")
    expect(page.get_by_label("E-mail address")).to_have_value(EMAIL)
    page.screenshot(path=artifacts / "login-error-desktop.png", full_page=True)

    _sign_in(page, password=PASSWORD)
    expect(page).to_have_url(f"{live_server.url}/w/asha-shop/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Welcome to Heroshhi Pro")
    expect(page.get_by_text("No leads yet")).to_be_visible()
    expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "1")
    page.screenshot(path=artifacts / "home-desktop.png", full_page=True)

    # app.js runs under the policy: the dialog opens and Escape closes it.
    page.get_by_role("button", name="Add leads").click()
    dialog = page.get_by_role("dialog", name="Add leads")
    expect(dialog).to_be_visible()
    page.screenshot(path=artifacts / "home-modal-desktop.png")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    watch.assert_clean()

    phone = browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        storage_state=desktop.storage_state(),
    )
    phone_page = phone.new_page()
    phone_watch = PageWatch(phone_page)
    phone_page.goto(f"{live_server.url}/")
    navigation = phone_page.get_by_role("navigation", name="Main")
    expect(navigation).to_be_hidden()
    phone_page.screenshot(path=artifacts / "home-phone.png", full_page=True)

    menu = phone_page.get_by_role("button", name="Menu")
    menu.click()
    expect(navigation).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    phone_page.screenshot(path=artifacts / "home-phone-menu.png")
    phone_page.keyboard.press("Escape")
    expect(navigation).to_be_hidden()
    expect(menu).to_be_focused()

    # The narrowest phones we support: nothing may push the page sideways.
    phone_page.set_viewport_size(NARROWEST)
    assert phone_page.evaluate("document.documentElement.scrollWidth") <= NARROWEST["width"]
    phone_watch.assert_clean()

    signed_out = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    public_page = signed_out.new_page()
    public_watch = PageWatch(public_page)
    public_page.goto(f"{live_server.url}/accounts/login/")
    public_page.screenshot(path=artifacts / "login-phone.png", full_page=True)
    missing = public_page.goto(f"{live_server.url}/no-such-page")
    assert missing is not None
    assert missing.status == 404
    expect(public_page.get_by_role("heading", level=1)).to_have_text("Page not found")
    public_page.screenshot(path=artifacts / "error-404-phone.png", full_page=True)
    # The failed navigation itself is reported on the console; nothing else may be.
    public_watch.console_errors = [e for e in public_watch.console_errors if "404" not in e]
    public_watch.assert_clean()

    for context in (desktop, phone, signed_out):
        context.close()
