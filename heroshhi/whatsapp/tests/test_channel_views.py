"""Channel settings pages: owners and managers add, check and remove numbers; sales are
refused; secrets never come back out in any page."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging.models import Channel
from heroshhi.whatsapp.models import WhatsAppChannel

pytestmark = pytest.mark.django_db


def _url(name: str, world: Any, **kwargs: Any) -> str:
    return reverse(f"whatsapp:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _login(client: Any, user: Any) -> None:
    client.login(email=user.email, password=PASSWORD)


def _form(**overrides: str) -> dict[str, str]:
    return {
        "label": "Sales line",
        "display_phone_number": "+91 80000 12345",
        "phone_number_id": "106540352242922",
        "waba_id": "102290129340398",
        "access_token": "EAAG" + secrets.token_urlsafe(24),
        "app_secret": secrets.token_hex(16),
        "verify_token": "verify-" + secrets.token_hex(6),
        "throughput_tier": "80",
        **overrides,
    }


def test_sales_are_refused_every_channel_page(client, world, wa_channel):
    _login(client, world.bob)
    assert client.get(_url("list", world)).status_code == 403
    assert client.post(_url("add", world), _form()).status_code == 403
    assert client.get(_url("detail", world, channel_id=wa_channel.pk)).status_code == 403
    assert client.post(_url("check", world, channel_id=wa_channel.pk)).status_code == 403
    assert (
        client.post(_url("remove", world, channel_id=wa_channel.pk), {"confirm": "on"}).status_code
        == 403
    )
    with workspace_scope(world.a):
        assert Channel.objects.filter(deleted_at__isnull=True).count() == 1


def test_adding_a_number_shows_errors_inline_and_never_echoes_secrets(client, world):
    _login(client, world.alice)
    data = _form(phone_number_id="not-a-number", display_phone_number="")
    response = client.post(_url("add", world), data)
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter the numeric id shown in Meta" in page
    assert 'class="field field--invalid"' in page
    for secret in ("access_token", "app_secret", "verify_token"):
        assert data[secret] not in page
    with workspace_scope(world.a):
        assert not WhatsAppChannel.objects.exists()


def test_a_new_number_shows_its_webhook_url_but_no_secret(client, world):
    _login(client, world.alice)
    data = _form()
    response = client.post(_url("add", world), data)
    with workspace_scope(world.a):
        channel = WhatsAppChannel.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("detail", world, channel_id=channel.pk)

    page = client.get(response["Location"]).content.decode()
    assert f"http://testserver/webhooks/whatsapp/{channel.pk}/" in page
    assert "verify token" in page
    for secret in ("access_token", "app_secret", "verify_token"):
        assert data[secret] not in page
    listing = client.get(_url("list", world)).content.decode()
    assert "Sales line" in listing
    assert "106540352242922" in listing
    assert "Not checked yet" in listing
    for secret in ("access_token", "app_secret", "verify_token"):
        assert data[secret] not in listing


def test_the_same_number_cannot_be_added_twice(client, world, wa_channel):
    _login(client, world.alice)
    response = client.post(_url("add", world), _form(phone_number_id=wa_channel.phone_number_id))
    assert response.status_code == 400
    assert "already connected" in response.content.decode()


def test_check_connection_lists_the_templates(client, world, make_wa_channel):
    channel = make_wa_channel(sync_templates=False)
    _login(client, world.alice)
    response = client.post(_url("check", world, channel_id=channel.pk))
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Connected. 6 templates synced." in page
    assert "welcome_offer" in page
    assert "Hi {{1}}, welcome! Enjoy 10% off your first order this week." in page
    assert "Approved" in page
    assert "Paused" in page
    listing = client.get(_url("list", world)).content.decode()
    assert "Connected" in listing


def test_a_failed_check_says_why(client, world, make_wa_channel):
    channel = make_wa_channel(sync_templates=False, token="EAAG-wrong-token")
    _login(client, world.alice)
    page = client.post(_url("check", world, channel_id=channel.pk), follow=True).content.decode()
    assert "The check failed:" in page
    assert "Failed" in page


def test_removing_needs_the_confirmation(client, world, wa_channel):
    _login(client, world.alice)
    url = _url("remove", world, channel_id=wa_channel.pk)
    refused = client.post(url)
    assert refused.status_code == 400
    assert "Tick the box to confirm." in refused.content.decode()
    response = client.post(url, {"confirm": "on"})
    assert response.status_code == 302
    assert response["Location"] == _url("list", world)
    with workspace_scope(world.a):
        assert Channel.objects.get(pk=wa_channel.pk).deleted_at is not None
    assert client.get(_url("detail", world, channel_id=wa_channel.pk)).status_code == 404


def test_charlie_gets_404_for_alices_number(client, world, wa_channel):
    _login(client, world.charlie)
    own = reverse("whatsapp:detail", kwargs={"slug": world.b.slug, "channel_id": wa_channel.pk})
    assert client.get(own).status_code == 404
    assert client.get(_url("detail", world, channel_id=wa_channel.pk)).status_code == 404


def test_owners_add_their_own_opt_out_keywords_and_contacts_are_matched_on_them(client, world):
    from heroshhi.messaging.keywords import match_keyword

    _login(client, world.alice)
    response = client.post(
        _url("keywords", world),
        {"extra_optout_keywords": "Bas karo\n\nno more", "extra_optin_keywords": "haan ji"},
    )
    assert response.status_code == 302
    page = client.get(_url("list", world)).content.decode()
    assert "bas karo" in page
    assert "haan ji" in page
    match = match_keyword(workspace=world.a, text="BAS KARO!")
    assert match is not None
    assert match.action == "opt_out"


def test_a_keyword_on_both_lists_is_refused_inline_and_sales_may_not_change_them(client, world):
    _login(client, world.alice)
    response = client.post(
        _url("keywords", world), {"extra_optout_keywords": "start", "extra_optin_keywords": ""}
    )
    assert response.status_code == 400
    assert "cannot both opt out and opt back in" in response.content.decode()
    _login(client, world.bob)
    refused = client.post(
        _url("keywords", world), {"extra_optout_keywords": "bas", "extra_optin_keywords": ""}
    )
    assert refused.status_code == 403
