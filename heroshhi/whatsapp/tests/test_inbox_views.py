"""The team inbox pages: who sees which conversation, the thread and its polling fragment, the
composer in each state (window open, closed, opted out), refusals as banners, notes,
assignment, and the lead page's messaging panel with call logging.

Sends talk real HTTP to the WhatsApp simulator; inbound messages go through the real inbound
service (the webhook path itself is the webhooks tests' subject).
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from conftest import PASSWORD
from heroshhi.audit.models import AuditEvent
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, Note
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging import optout
from heroshhi.messaging.events import Contact, InboundMessage
from heroshhi.messaging.inbound import inbound_message_receive
from heroshhi.messaging.models import Call, Conversation, Message, OptOutRecord
from heroshhi.whatsapp.models import WhatsAppChannel
from heroshhi.whatsapp.tests.conftest import wa_digits
from heroshhi.workspaces.models import Membership

pytestmark = pytest.mark.django_db
_wamids = itertools.count(1)


def receive(channel: WhatsAppChannel, lead: Lead, text: str, *, at: Any = None) -> Conversation:
    """The contact writes ``text`` (through the real inbound service)."""
    assert lead.phone
    item = InboundMessage(
        provider_message_id=f"wamid.TEST{next(_wamids):08d}",
        kind="text",
        original_type="text",
        timestamp=at or timezone.now(),
        contact=Contact(phone_digits=wa_digits(lead.phone), user_id=None, name=lead.name),
        text=text,
        payload={},
        keyword_candidates=(text,),
        referral=None,
    )
    result = inbound_message_receive(
        workspace=channel.workspace, channel=channel.channel, item=item
    )
    return result.message.conversation


def _url(name: str, world: Any, **kwargs: Any) -> str:
    return reverse(f"messaging:{name}", kwargs={"slug": world.a.slug, **kwargs})


def _login(client: Any, user: Any) -> None:
    client.login(email=user.email, password=PASSWORD)


def _reload(conversation: Conversation) -> Conversation:
    with workspace_scope(conversation.workspace_id):
        return Conversation.objects.get(pk=conversation.pk)


@pytest.fixture
def bob_member(world: Any) -> Membership:
    with workspace_scope(world.a):
        return Membership.objects.get(user=world.bob)


@pytest.fixture
def two_leads(world, make_wa_lead, bob_member):
    """Priya (Alice's lead) and Rahul (Bob's lead)."""
    priya = make_wa_lead()
    rahul = make_wa_lead(name="Rahul Verma", phone="+919812345678", owner=bob_member)
    return priya, rahul


# The list ---------------------------------------------------------------------------------------


def test_alice_sees_every_conversation_bob_only_his_leads(client, world, wa_channel, two_leads):
    priya, rahul = two_leads
    receive(wa_channel, priya, "Is the sofa available?")
    receive(wa_channel, rahul, "Need 20 office chairs")

    _login(client, world.alice)
    page = client.get(_url("inbox", world)).content.decode()
    for text in ("Priya Sharma", "Rahul Verma", "Is the sofa available?", "Need 20 office chairs"):
        assert text in page

    client.logout()
    _login(client, world.bob)
    for tab in ("mine", "all", "unassigned"):
        page = client.get(_url("inbox", world), {"tab": tab}).content.decode()
        assert "Priya Sharma" not in page
        assert ("Rahul Verma" in page) is (tab != "unassigned")


def test_bob_and_charlie_get_404_on_conversations_they_may_not_see(
    client,
    world,
    wa_channel,
    two_leads,
):
    priya, _rahul = two_leads
    conversation = receive(wa_channel, priya, "Hello")
    url = _url("conversation", world, conversation_id=conversation.pk)
    _login(client, world.bob)
    assert client.get(url).status_code == 404
    assert client.get(_url("live", world, conversation_id=conversation.pk)).status_code == 404
    assert client.post(_url("send", world, conversation_id=conversation.pk)).status_code == 404
    client.logout()
    _login(client, world.charlie)
    assert client.get(url).status_code == 404
    own = reverse(
        "messaging:conversation", kwargs={"slug": world.b.slug, "conversation_id": conversation.pk}
    )
    assert client.get(own).status_code == 404


def test_the_list_shows_unread_counts_newest_first_and_escapes_previews(
    client,
    world,
    wa_channel,
    two_leads,
):
    priya, rahul = two_leads
    receive(wa_channel, rahul, "older message", at=timezone.now() - timedelta(minutes=5))
    receive(wa_channel, priya, "first")
    receive(wa_channel, priya, "<script>alert('x')</script>")
    _login(client, world.alice)
    page = client.get(_url("inbox", world)).content.decode()
    assert page.index("Priya Sharma") < page.index("Rahul Verma")
    assert "<script>alert" not in page
    # The preview is the newest message, and Priya's two messages are unread.
    assert re.search(r"inbox-row__unread\">2<", page)
    assert "&lt;script&gt;" in page


def test_the_list_query_count_does_not_grow_with_the_conversations(
    client,
    world,
    wa_channel,
    make_wa_lead,
):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(_url("inbox", world)).status_code == 200
        return len(queries)

    _login(client, world.alice)
    receive(wa_channel, make_wa_lead(name="One", phone="+919800000001"), "a")
    few = count()
    for n in range(2, 7):
        receive(wa_channel, make_wa_lead(name=f"N{n}", phone=f"+91980000000{n}"), "b")
    assert count() == few


# One conversation -----------------------------------------------------------------------------


def test_opening_a_conversation_marks_it_read_and_shows_the_window(
    client,
    world,
    wa_channel,
    wa_lead,
):
    conversation = receive(wa_channel, wa_lead, "Hi there")
    assert conversation.unread_count == 1
    _login(client, world.alice)
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    page = page.decode()
    assert _reload(conversation).unread_count == 0
    assert "Hi there" in page
    assert re.search(r"Window closes in 2[34] h \d+ m", page)
    assert _url("send", world, conversation_id=conversation.pk) in page
    # Variables are prefilled: the first one is the lead's first name.
    assert 'name="var_1" value="Priya"' in page


def test_outside_the_window_only_templates_are_offered(client, world, wa_channel, wa_lead):
    conversation = receive(
        wa_channel, wa_lead, "Old question", at=timezone.now() - timedelta(hours=30)
    )
    _login(client, world.alice)
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    page = page.decode()
    assert "Window closed — only approved templates can be sent" in page
    assert _url("send", world, conversation_id=conversation.pk) not in page
    assert _url("send_template", world, conversation_id=conversation.pk) in page
    assert "welcome_offer" in page
    assert "old_promo" not in page  # paused templates are not offered


def test_a_reply_is_sent_and_shows_with_its_tick(
    client,
    world,
    wa_channel,
    wa_lead,
    wa_simulator,
    django_capture_on_commit_callbacks,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    wa_simulator.say(
        from_=wa_digits(wa_lead.phone), text="Hi", phone_number_id=wa_channel.phone_number_id
    )
    _login(client, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url("send", world, conversation_id=conversation.pk),
            {
                "text": "Yes, it is in stock",
                "quick_reply_1": "Book a visit",
                "quick_reply_2": "Price?",
            },
        )
    assert response.status_code == 302
    sent = wa_simulator.outbox(phone_number_id=wa_channel.phone_number_id)
    assert len(sent) == 1
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    page = page.decode()
    assert "Yes, it is in stock" in page
    # Accepted by WhatsApp; the "sent" status webhook (not part of this test) moves it on.
    assert "inbox-tick inbox-tick--pending" in page


def test_a_template_is_sent_from_the_picker(
    client,
    world,
    wa_channel,
    wa_lead,
    wa_simulator,
    django_capture_on_commit_callbacks,
):
    conversation = receive(wa_channel, wa_lead, "Hi", at=timezone.now() - timedelta(days=2))
    with workspace_scope(world.a):
        template = wa_channel.channel.templates.get(name="lead_followup")
    _login(client, world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _url("send_template", world, conversation_id=conversation.pk),
            {"template": str(template.pk), "var_1": "Priya", "var_2": "office chairs"},
        )
    assert response.status_code == 302
    assert len(wa_simulator.outbox(phone_number_id=wa_channel.phone_number_id)) == 1
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    assert "thanks for your interest in office chairs" in page.decode()

    missing = client.post(
        _url("send_template", world, conversation_id=conversation.pk),
        {"template": str(template.pk), "var_1": "Priya", "var_2": ""},
    )
    assert missing.status_code == 400
    assert "Fill in every variable" in missing.content.decode()


def test_an_opted_out_contact_gets_a_banner_and_a_disabled_composer(
    client,
    world,
    wa_channel,
    wa_lead,
    alice,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead, method="manual")
    _login(client, world.alice)
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    page = page.decode()
    assert "This contact opted out on" in page
    assert "(Marked by staff)" in page
    assert '<fieldset class="inbox-composer" disabled>' in page
    assert _url("send", world, conversation_id=conversation.pk) not in page
    assert _url("send_template", world, conversation_id=conversation.pk) not in page


def test_a_refused_send_shows_the_reason_as_a_banner(
    client,
    world,
    wa_channel,
    wa_lead,
    alice,
    wa_simulator,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    _login(client, world.alice)
    # The agent loaded the composer; meanwhile the contact opted out.
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead, method="manual")
    response = client.post(_url("send", world, conversation_id=conversation.pk), {"text": "Offer!"})
    assert response.status_code == 409
    page = response.content.decode()
    assert "data-refusal" in page
    assert "This contact opted out on" in page
    assert wa_simulator.outbox(phone_number_id=wa_channel.phone_number_id) == []
    with workspace_scope(world.a):
        assert not Message.objects.filter(direction="out").exists()


def test_a_free_text_outside_the_window_is_refused_with_the_reason(
    client,
    world,
    wa_channel,
    wa_lead,
):
    conversation = receive(wa_channel, wa_lead, "Hi", at=timezone.now() - timedelta(hours=25))
    _login(client, world.alice)
    response = client.post(_url("send", world, conversation_id=conversation.pk), {"text": "Hello"})
    assert response.status_code == 409
    assert "data-refusal" in response.content.decode()


def test_the_polling_fragment_is_empty_until_something_changes(
    client,
    world,
    wa_channel,
    wa_lead,
    alice,
):
    conversation = receive(wa_channel, wa_lead, "First")
    _login(client, world.alice)
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    live = re.search(r'hx-get="([^"]+/live/\?[^"]+)"', page.decode())
    assert live is not None
    url = live.group(1).replace("&amp;", "&")

    assert client.get(url).status_code == 204
    receive(wa_channel, wa_lead, "Second message")
    fresh = client.get(url)
    assert fresh.status_code == 200
    body = fresh.content.decode()
    assert "Second message" in body
    assert 'hx-trigger="every 3s"' in body
    assert "hx-swap-oob" not in body  # the composer did not change
    assert _reload(conversation).unread_count == 0  # the agent is looking at it

    # The contact opts out: the fragment brings the banner and a new, disabled composer.
    optout.lead_opt_out(workspace=world.a, actor=alice, lead=wa_lead, method="manual")
    changed = client.get(url).content.decode()
    assert "This contact opted out on" in changed
    assert 'id="composer" class="stack" hx-swap-oob="true"' in changed
    assert "disabled" in changed


def test_an_internal_note_shows_in_the_thread_and_on_the_lead(
    client,
    world,
    wa_channel,
    wa_lead,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    _login(client, world.alice)
    response = client.post(
        _url("note_add", world, conversation_id=conversation.pk), {"body": "Call after 6 pm"}
    )
    assert response.status_code == 302
    page = client.get(_url("conversation", world, conversation_id=conversation.pk)).content
    assert re.search(r'class="inbox-note".*Call after 6 pm', page.decode(), re.S)
    with workspace_scope(world.a):
        assert Note.objects.get(lead=wa_lead).body == "Call after 6 pm"
    empty = client.post(_url("note_add", world, conversation_id=conversation.pk), {"body": ""})
    assert empty.status_code == 400


def test_owners_assign_conversations_sales_may_not(
    client,
    world,
    wa_channel,
    wa_lead,
    bob_member,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    _login(client, world.bob)
    assert client.post(_url("assign", world, conversation_id=conversation.pk)).status_code == 404
    client.logout()
    _login(client, world.alice)
    response = client.post(
        _url("assign", world, conversation_id=conversation.pk), {"member": str(bob_member.pk)}
    )
    assert response.status_code == 302
    with workspace_scope(world.a):
        assert Lead.objects.get(pk=wa_lead.pk).owner_id == bob_member.pk
    client.logout()
    _login(client, world.bob)
    assert "Priya Sharma" in client.get(_url("inbox", world)).content.decode()
    assert (
        client.post(
            _url("assign", world, conversation_id=conversation.pk), {"member": ""}
        ).status_code
        == 403
    )


def test_closing_moves_a_conversation_out_of_the_open_list(
    client,
    world,
    wa_channel,
    wa_lead,
):
    conversation = receive(wa_channel, wa_lead, "Thanks, that is all")
    _login(client, world.alice)
    response = client.post(
        _url("status", world, conversation_id=conversation.pk), {"status": "closed"}
    )
    assert response.status_code == 302
    assert _reload(conversation).status == Conversation.Status.CLOSED
    assert "Priya Sharma" not in client.get(_url("inbox", world)).content.decode()
    assert "Priya Sharma" in client.get(_url("inbox", world), {"closed": "1"}).content.decode()
    client.post(_url("status", world, conversation_id=conversation.pk), {"status": "open"})
    assert _reload(conversation).status == Conversation.Status.OPEN


def test_the_simulator_link_shows_only_against_a_local_simulator(
    client,
    world,
    wa_channel,
    wa_lead,
    settings,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    _login(client, world.alice)
    url = _url("conversation", world, conversation_id=conversation.pk)
    assert "Simulate a customer" in client.get(url).content.decode()
    settings.WHATSAPP_GRAPH_BASE_URL = "https://graph.facebook.com"
    assert "Simulate a customer" not in client.get(url).content.decode()


# The lead page's panel ------------------------------------------------------------------------


def test_the_lead_page_loads_the_panel_and_the_panel_shows_opt_out_and_calls(
    client,
    world,
    wa_channel,
    wa_lead,
):
    conversation = receive(wa_channel, wa_lead, "Hi")
    _login(client, world.alice)
    detail = client.get(
        reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": wa_lead.pk})
    )
    panel_url = _url("lead_panel", world, lead_id=wa_lead.pk)
    assert f'hx-get="{panel_url}"' in detail.content.decode()

    panel = client.get(panel_url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in panel
    assert 'href="tel:+919876543210"' in panel
    assert _url("conversation", world, conversation_id=conversation.pk) in panel
    assert "Mark as opted out" in panel

    opted = client.post(
        _url("lead_optout", world, lead_id=wa_lead.pk),
        {"action": "opt_out"},
        headers={"HX-Request": "true"},
    ).content.decode()
    assert "This contact opted out on" in opted
    assert "Opt back in" in opted
    assert optout.lead_is_opted_out(workspace=world.a, lead=wa_lead)


def test_sales_may_opt_out_but_not_back_in(client, world, make_wa_lead, bob_member):
    lead = make_wa_lead(owner=bob_member)
    _login(client, world.bob)
    url = _url("lead_optout", world, lead_id=lead.pk)
    assert client.post(url, {"action": "opt_out"}).status_code == 302
    refused = client.post(url, {"action": "opt_in"})
    assert refused.status_code == 403
    assert "Only owners and managers" in refused.content.decode()
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead)


def test_a_call_is_logged_through_the_form(client, world, wa_lead):
    _login(client, world.alice)
    url = _url("lead_call_log", world, lead_id=wa_lead.pk)
    started = timezone.localtime() - timedelta(hours=1)
    response = client.post(
        url,
        {
            "direction": "out",
            "outcome": "connected",
            "started_at": started.strftime("%Y-%m-%dT%H:%M"),
            "duration": "4:30",
            "notes": "Wants a quote by Friday",
            "recording_url": "https://calls.example.com/r/1",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    panel = response.content.decode()
    assert "Outbound · Connected" in panel
    assert "4:30" in panel
    assert 'href="https://calls.example.com/r/1"' in panel
    with workspace_scope(world.a):
        call = Call.objects.get(lead=wa_lead)
    assert call.duration_seconds == 270
    assert call.notes == "Wants a quote by Friday"

    bad = client.post(
        url,
        {"direction": "out", "outcome": "connected", "started_at": "soon", "duration": "4:99"},
    )
    assert bad.status_code == 400
    page = bad.content.decode()
    assert "Enter a valid date/time." in page
    assert "Write minutes, or minutes:seconds" in page


def test_the_call_form_refuses_a_start_more_than_30_days_ago(client, world, wa_lead):
    _login(client, world.alice)
    started = timezone.localtime() - timedelta(days=45)
    response = client.post(
        _url("lead_call_log", world, lead_id=wa_lead.pk),
        {
            "direction": "out",
            "outcome": "connected",
            "started_at": started.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert response.status_code == 400
    assert "This time is more than 30 days ago." in response.content.decode()
    with workspace_scope(world.a):
        assert not Call.objects.filter(lead=wa_lead).exists()


def test_charlie_cannot_log_calls_or_read_the_panel_of_alices_lead(client, world, wa_lead):
    _login(client, world.charlie)
    assert client.get(_url("lead_panel", world, lead_id=wa_lead.pk)).status_code == 404
    assert client.post(_url("lead_call_log", world, lead_id=wa_lead.pk)).status_code == 404
    with workspace_scope(world.a):
        assert not Call.objects.exists()


def test_charlie_inside_his_own_workspace_cannot_reach_alices_lead_panel(
    client,
    world,
    wa_lead,
):
    _login(client, world.charlie)
    url = reverse("messaging:lead_panel", kwargs={"slug": world.b.slug, "lead_id": wa_lead.pk})
    assert client.get(url).status_code == 404


def test_the_list_polls_and_shows_a_new_conversation_without_a_reload(
    client,
    world,
    wa_channel,
    two_leads,
):
    priya, rahul = two_leads
    receive(wa_channel, priya, "Hello")
    _login(client, world.alice)
    page = client.get(_url("inbox", world), {"tab": "all"}).content.decode()
    poll = re.search(r'id="inbox-list"[^>]*hx-get="([^"]+)"', page)
    assert poll is not None
    url = poll.group(1).replace("&amp;", "&")
    assert "tab=all" in url
    assert client.get(url, headers={"HX-Request": "true"}).status_code == 204
    receive(wa_channel, rahul, "Do you deliver to Nagpur?")
    fresh = client.get(url, headers={"HX-Request": "true"})
    assert fresh.status_code == 200
    body = fresh.content.decode()
    assert "<html" not in body
    assert "Do you deliver to Nagpur?" in body


def test_the_ledger_records_which_matcher_rule_decided_and_shows_it(
    client, world, wa_channel, wa_lead
):
    receive(wa_channel, wa_lead, "Stooop!!")
    receive(wa_channel, wa_lead, "START")
    receive(wa_channel, wa_lead, "stop karo plz")
    with workspace_scope(world.a):
        records = list(OptOutRecord.objects.order_by("created_at", "seq"))
    assert [(r.trigger, r.rule) for r in records] == [
        ("stop", "letters"),
        ("start", "exact"),
        ("stop karo", "filler+tail"),
    ]
    audit = AuditEvent.objects.filter(action="optout_recorded").order_by("occurred_at", "id")
    assert sorted(event.metadata["rule"] for event in audit) == ["filler+tail", "letters"]

    _login(client, world.alice)
    page = client.get(_url("optout_ledger", world)).content.decode()
    assert "matched by rule filler+tail" in page
    assert "plz" not in page  # the rule, never the message text
    listed = client.get("/api/v1/opt-outs", **issue_key(world.a)).json()["items"]
    assert [item["rule"] for item in listed] == ["filler+tail", "exact", "letters"]
