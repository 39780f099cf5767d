"""Messages read in the order the contact sent them, whatever order Meta delivered them
in: by the provider's timestamp, ties by arrival, on the conversation page and in the API."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.urls import reverse

from conftest import PASSWORD
from heroshhi.accounts.services import api_key_create
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.messaging import selectors
from heroshhi.messaging.models import Conversation
from heroshhi.whatsapp.tests.webhook_support import (
    change,
    contact,
    envelope,
    make_channel,
    post,
    text_message,
)
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

WA_ID = "919876500001"
START = int(time.time()) - 600


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def conversation(client, world, django_capture_on_commit_callbacks) -> Conversation:
    """The contact wrote "first", "second", "third" (a tie with "second"), "fourth";
    Meta delivered them fourth, second, third, first."""
    channel = make_channel(world.a)
    sent = {"first": START, "second": START + 60, "third": START + 60, "fourth": START + 120}
    for word in ("fourth", "second", "third", "first"):
        body = envelope(
            [
                change(
                    channel,
                    contacts=[contact(WA_ID)],
                    messages=[text_message(f"wamid.{word}", word, wa_id=WA_ID, ts=str(sent[word]))],
                )
            ]
        )
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, channel, body).status_code == 200
    with workspace_scope(world.a):
        return Conversation.objects.select_related("lead").get()


def test_the_thread_is_in_the_contacts_order(world, conversation):
    items = selectors.conversation_thread(workspace=world.a, conversation=conversation)

    assert [item.message.body for item in items if item.message] == [
        "first",
        "second",
        "third",
        "fourth",
    ]


def test_the_conversation_page_shows_the_contacts_order(client, world, conversation):
    client.login(email=world.alice.email, password=PASSWORD)
    url = reverse(
        "messaging:conversation",
        kwargs={"slug": world.a.slug, "conversation_id": conversation.pk},
    )
    html = client.get(url).content.decode()

    positions = [html.index(f">{word}<") for word in ("first", "second", "third", "fourth")]
    assert positions == sorted(positions)


def test_the_api_pages_through_messages_newest_first_in_the_contacts_order(
    client, world, conversation
):
    key = api_key_create(
        workspace=world.a,
        actor=Actor.user("test", role=Role.OWNER),
        created_by=None,
        name="order",
        role=Role.OWNER,
    ).plaintext
    url = f"/api/v1/leads/{conversation.lead.pk}/messages"
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"}

    seen, cursor = [], None
    while True:
        page = client.get(url, {"limit": 1, **({"cursor": cursor} if cursor else {})}, **headers)
        assert page.status_code == 200
        seen += [item["body"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break

    assert seen == ["fourth", "third", "second", "first"]
