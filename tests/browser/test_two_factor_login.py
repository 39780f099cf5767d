"""Two-factor sign-in end to end in a real Chromium under the real CSP: an owner signs up and
invites a colleague, the colleague joins with a new account, turns on an authenticator app
from the security page, signs out, and signs back in with the password and then a code.

The sign-in clock (``heroshhi.core.ratelimit._now``, which ``heroshhi.accounts.clock`` reads)
is frozen, so the codes do not depend on where in a 30-second step the test happens to run.
The live server runs in a thread of this process, so it sees the same frozen clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from django.core import mail
from playwright.sync_api import Browser, Page, ViewportSize, expect

from heroshhi.accounts import totp
from heroshhi.core import ratelimit
from tests.browser.test_login_flow import PageWatch

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery 42"
COLLEAGUE = "neha@sharma.example"
DESKTOP = ViewportSize(width=1280, height=800)
PHONE = ViewportSize(width=390, height=844)
INVITATION_LINK = re.compile(r"/invitations/([A-Za-z0-9_-]+)/")
# 10 s into a 30-second step, so no step boundary is near.
START = 30 * 60_000_000 + 10.0


@dataclass
class FrozenClock:
    now: float

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FrozenClock:
    frozen = FrozenClock(START)
    monkeypatch.setattr(ratelimit, "_now", lambda: frozen.now)
    return frozen


def _code(secret: str, clock: FrozenClock) -> str:
    """What an authenticator app shows at ``clock``: computed with pyotp, independently of
    the app's own TOTP code."""
    return pyotp.TOTP(secret, digits=totp.DIGITS, interval=totp.STEP_SECONDS).at(clock.now)


def _owner_signs_up_and_invites(page: Page, base: str) -> None:
    page.goto(f"{base}/signup/")
    page.get_by_label("Business name").fill("Sharma Motors")
    page.get_by_label("Your name").fill("Ravi Sharma")
    page.get_by_label("E-mail address").fill("ravi@sharma.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/team/")
    page.get_by_label("E-mail address").fill(COLLEAGUE)
    page.get_by_label("Role", exact=True).select_option("sales")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text(COLLEAGUE)).to_be_visible()


def test_a_colleague_joins_turns_on_two_factor_and_signs_in_with_a_code(
    transactional_db: None,
    live_server: Any,
    browser: Browser,
    artifacts: Path,
    clock: FrozenClock,
) -> None:
    base = live_server.url
    owner = browser.new_context(viewport=DESKTOP)
    owner_page = owner.new_page()
    owner_watch = PageWatch(owner_page)
    _owner_signs_up_and_invites(owner_page, base)
    owner_watch.assert_clean()
    assert [m.to for m in mail.outbox] == [[COLLEAGUE]]
    link = INVITATION_LINK.search(str(mail.outbox[0].body))
    assert link

    # The colleague, in a browser of her own, follows the link and creates her account.
    colleague = browser.new_context(viewport=PHONE, is_mobile=True)
    page = colleague.new_page()
    watch = PageWatch(page)
    page.goto(f"{base}/invitations/{link.group(1)}/")
    expect(page).to_have_url(f"{base}/invitations/accept/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Join Sharma Motors")
    page.get_by_label("Your name").fill("Neha Gupta")
    page.get_by_label("Choose a password").fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    page.get_by_role("button", name="Create account and join").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/")
    watch.assert_clean()

    # Security page → set up the authenticator app with the key the page shows.
    page.goto(f"{base}/account/security/")
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(page).to_have_url(f"{base}/account/security/two-factor/")
    setup_key = page.get_by_label("Setup key")
    expect(setup_key).to_have_text(re.compile(r"^[A-Z2-7 ]{32,}$"))
    page.screenshot(path=artifacts / "two-factor-enrol-phone.png", full_page=True)
    secret = setup_key.inner_text().replace(" ", "")
    page.get_by_label("Code from the app").fill(_code(secret, clock))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in is on")
    expect(page.locator(".code-list li")).to_have_count(totp.RECOVERY_CODE_COUNT)
    page.screenshot(path=artifacts / "two-factor-recovery-codes-phone.png", full_page=True)
    page.get_by_role("link", name="I have saved them").click()
    expect(page).to_have_url(f"{base}/account/security/")
    watch.assert_clean()

    # Sign out, then in again: password first, the code on the second step.
    page.get_by_role("button", name="Sign out").click()
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("E-mail address").fill(COLLEAGUE)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/accounts/login/verify/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Two-factor sign-in")
    page.screenshot(path=artifacts / "two-factor-verify-phone.png", full_page=True)
    # Still on the password step's half-done sign-in: the workspace stays shut.
    assert page.request.get(f"{base}/w/sharma-motors/", max_redirects=0).status != 200

    # The enrolment used up its code's step; the app shows the next one 30 s later.
    clock.advance(totp.STEP_SECONDS)
    page.get_by_label("Authentication code").fill(_code(secret, clock))
    page.get_by_role("button", name="Verify and sign in").click()
    expect(page).to_have_url(f"{base}/w/sharma-motors/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Neha Gupta")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=artifacts / "two-factor-signed-in-phone.png", full_page=True)
    watch.assert_clean()

    for context in (owner, colleague):
        context.close()
