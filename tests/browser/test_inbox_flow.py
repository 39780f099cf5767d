"""An agent chats with a contact in a real browser under the real CSP, against the WhatsApp
simulator, whose customer page plays the contact's phone: the contact writes, the message
shows in the inbox without a reload, the agent replies, the ticks turn blue when the contact
reads it, and after the contact sends STOP the composer closes and a stale page's send is
refused with the opted-out banner.

Everything is real: the simulator POSTs signed webhooks to the live server, which stores and
processes them (Celery runs eagerly in tests), and the agent's pages poll with htmx.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from heroshhi.accounts.models import User
from heroshhi.core.actors import Actor
from heroshhi.leads.services.leads import lead_create
from heroshhi.whatsapp.services import channel_check, channel_create
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import workspace_create
from tests.browser.test_login_flow import PageWatch

pytestmark = pytest.mark.browser

EMAIL = "asha@shop.example"
PASSWORD = "correct horse battery 42"
SLUG = "asha-shop"
CONTACT = "Meera Iyer"
CONTACT_DIGITS = "919812300077"
DESKTOP = ViewportSize(width=1280, height=900)
# Webhooks and polls take a few seconds each; the default 5 s is too tight for two hops.
WAIT_MS = 20_000


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("E-mail address").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{base}/w/{SLUG}/")


def _thread(page: Page) -> Any:
    return page.get_by_role("region", name="Messages")


def test_an_agent_chats_until_the_contact_opts_out(
    transactional_db: None,
    live_server: Any,
    browser: Browser,
    artifacts: Path,
    wa_simulator: Any,
) -> None:
    user = User.objects.create_user(email=EMAIL, password=PASSWORD, full_name="Asha Rao")
    workspace = workspace_create(actor=Actor.system(), name="Asha Shop", slug=SLUG, owner=user)
    owner = Actor.user(user.pk, role=Role.OWNER)
    phone_number_id = str(10**14 + secrets.randbelow(9 * 10**14))
    access_token = "EAAG" + secrets.token_urlsafe(24)
    secrets_for = {"access_token": access_token, "app_secret": "s3cr3t-app"}
    channel = channel_create(
        workspace=workspace,
        actor=owner,
        phone_number_id=phone_number_id,
        waba_id=str(10**14 + secrets.randbelow(9 * 10**14)),
        display_phone_number="+91 80000 55555",
        verify_token="shop-verify",
        label="Shop WhatsApp",
        access_token=access_token,
        app_secret=secrets_for["app_secret"],
    )
    wa_simulator.add_number(
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.channel.display_phone_number,
        webhook_url=f"{live_server.url}/webhooks/whatsapp/{channel.pk}/",
        verified_name="Asha Shop",
        **secrets_for,
    )
    assert channel_check(workspace=workspace, actor=owner, channel=channel).ok
    wa_simulator.configure(latency_ms=50, auto_read=False)
    lead_create(
        workspace=workspace,
        actor=owner,
        name=CONTACT,
        phone="+" + CONTACT_DIGITS,
        email=None,
        source="manual",
    )
    base = live_server.url

    agent_context = browser.new_context(viewport=DESKTOP)
    agent = agent_context.new_page()
    watch = PageWatch(agent)
    _sign_in(agent, base)
    agent.get_by_role("navigation", name="Main").get_by_role("link", name="Inbox").click()
    expect(agent).to_have_url(f"{base}/w/{SLUG}/inbox/")
    expect(agent.get_by_text("No conversations here")).to_be_visible()

    # The contact writes from the simulator's customer page.
    customer_context = browser.new_context(viewport=ViewportSize(width=480, height=900))
    customer = customer_context.new_page()
    customer.goto(f"{wa_simulator.base_url}/_sim/customer")
    numbers = customer.get_by_label("Business number")
    expect(numbers.locator(f'option[value="{phone_number_id}"]')).to_have_count(1)
    numbers.select_option(phone_number_id)
    customer.get_by_label("Customer number").fill(CONTACT_DIGITS)
    customer.get_by_label("Customer name").fill("Meera")
    customer.get_by_label("Message").fill("Hi")
    customer.get_by_role("button", name="Send", exact=True).click()
    expect(customer.get_by_role("log", name="Conversation")).to_contain_text("Hi")

    # It shows in the inbox by itself (the list polls), unread.
    row = agent.locator(".inbox-row").filter(has_text=CONTACT)
    expect(row).to_be_visible(timeout=WAIT_MS)
    expect(row).to_contain_text("Hi")
    expect(row.locator(".inbox-row__unread")).to_contain_text("1")
    agent.screenshot(path=artifacts / "inbox-new-message.png", full_page=True)

    row.get_by_role("link").click()
    expect(agent.get_by_role("heading", level=1)).to_have_text(CONTACT)
    expect(_thread(agent)).to_contain_text("Hi")
    expect(agent.get_by_text(re.compile(r"Window closes in 23 h 5\d m"))).to_be_visible()
    conversation_url = agent.url

    # A stale page, as a second tab without scripts would be: it will try to send later.
    stale_context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    stale = stale_context.new_page()
    _sign_in(stale, base)
    stale.goto(conversation_url)
    expect(stale.get_by_label("Message", exact=True)).to_be_editable()

    # The agent replies; the ticks follow the simulator's status webhooks.
    agent.get_by_label("Message", exact=True).fill("Hello Meera! How can we help?")
    agent.get_by_role("button", name="Send", exact=True).click()
    reply = _thread(agent).locator(".inbox-msg--out").filter(has_text="How can we help?")
    expect(reply).to_be_visible()
    expect(reply.locator(".inbox-tick--delivered")).to_be_visible(timeout=WAIT_MS)
    expect(customer.get_by_role("log", name="Conversation")).to_contain_text(
        "How can we help?", timeout=WAIT_MS
    )
    customer.get_by_role("button", name="Open chat").click()
    expect(reply.locator(".inbox-tick--read")).to_be_visible(timeout=WAIT_MS)
    agent.screenshot(path=artifacts / "inbox-reply-read.png", full_page=True)

    # The contact opts out: the open page shows the banner and closes the composer.
    customer.get_by_role("button", name="STOP", exact=True).click()
    banner = agent.locator("[data-optout-banner]")
    expect(banner).to_contain_text("This contact opted out on", timeout=WAIT_MS)
    expect(banner).to_contain_text("Keyword reply “stop”")
    expect(agent.get_by_role("button", name="Send", exact=True)).to_be_disabled()
    confirmation = _thread(agent).locator(".inbox-msg--out").filter(has_text="You will not get")
    # Its delivery is the last webhook this test causes; wait for it before finishing.
    expect(confirmation.locator(".inbox-tick--delivered, .inbox-tick--read")).to_be_visible(
        timeout=WAIT_MS
    )
    agent.screenshot(path=artifacts / "inbox-opted-out.png", full_page=True)
    customer.screenshot(path=artifacts / "inbox-simulator-customer.png", full_page=True)

    # The stale page's attempt is refused with the same banner, and nothing is sent.
    stale.get_by_label("Message", exact=True).fill("One more offer for you")
    stale.get_by_role("button", name="Send", exact=True).click()
    expect(stale.locator("[data-refusal]")).to_contain_text("This contact opted out on")
    stale.screenshot(path=artifacts / "inbox-send-refused.png", full_page=True)
    sent = wa_simulator.outbox(phone_number_id=phone_number_id)
    assert not any("One more offer" in str(message) for message in sent)

    # The lead page shows the same state in its messaging panel, and logs a call.
    agent.get_by_role("link", name="Lead page").click()
    panel = agent.locator("#lead-messaging")
    expect(panel.locator("[data-optout-banner]")).to_contain_text("opted out")
    expect(panel.get_by_role("link", name=re.compile("Call \\+919812300077"))).to_have_attribute(
        "href", "tel:+919812300077"
    )
    panel.get_by_text("Log a call").click()
    panel.get_by_label("Outcome").select_option("no_answer")
    panel.get_by_label("Call notes").fill("Rang to apologise; no answer")
    panel.get_by_role("button", name="Save call").click()
    expect(agent.locator("#lead-messaging")).to_contain_text("Outbound · No answer")
    expect(agent.locator("#lead-messaging")).to_contain_text("Rang to apologise")
    agent.screenshot(path=artifacts / "inbox-lead-panel.png", full_page=True)

    watch.assert_clean()
    for context in (stale_context, customer_context, agent_context):
        context.close()
    # No more status webhooks to a live server that is about to stop.
    wa_simulator.add_number(
        phone_number_id=channel.phone_number_id,
        waba_id=channel.waba_id,
        display_phone_number=channel.channel.display_phone_number,
        webhook_url="",
        **secrets_for,
    )
