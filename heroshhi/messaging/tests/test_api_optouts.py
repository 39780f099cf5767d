"""GET /api/v1/opt-outs and its selector: the workspace's whole opt-out ledger, filtered,
paged by cursor, each record resolved to the live lead it concerns, and never a phone
number, blind index or provider event key in the answer.

The ledger is written through the real services: a keyword reply and a WhatsApp
preference from the contact, staff marking a contact, and the per-lead REST endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import World
from heroshhi.accounts.models import ApiKey
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead
from heroshhi.leads.selectors import Viewer
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.trash import lead_delete_now
from heroshhi.leads.tests.conftest import issue_key
from heroshhi.messaging import optout, selectors_optout
from heroshhi.messaging.models import Channel, Conversation, OptOutRecord
from heroshhi.messaging.tests.conftest import make_channel
from heroshhi.workspaces.models import Membership, Workspace
from heroshhi.workspaces.permissions import Role

pytestmark = pytest.mark.django_db

MEERA_PHONE = "+919812345678"
ARJUN_PHONE = "+919811122233"
GONE_PHONE = "+919833344455"
WA_USER = "IN.13491208655302741918"
EVENT_KEY = "wamid.HBgMOTE5ODEyMzQ1Njc4"
URL = "/api/v1/opt-outs"


@dataclass
class Ledger:
    """Workspace A's ledger, oldest record first, and what each record is about."""

    channel: Channel
    meera: Lead  # Alice's: keyword STOP, opted back in by staff, opted out again by API
    arjun: Lead  # Bob's: Bob marked him opted out
    wa_only: Lead  # known to WhatsApp by user id only; turned off promotions
    gone_lead_id: Any  # hard-deleted after staff opted the contact out
    records: list[OptOutRecord]
    api_key_id: str
    alice_key: dict[str, str]


def _owner(world: World) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


def _member(workspace: Workspace, user: Any) -> Membership:
    with workspace_scope(workspace):
        return Membership.objects.get(user=user)


def _lead(
    world: World, *, name: str, phone: str | None, email: str | None = None, owner: Any = None
) -> Lead:
    return lead_create(
        workspace=world.a,
        actor=_owner(world),
        name=name,
        phone=phone,
        email=email,
        source="manual",
        owner=owner,
    ).lead


def build_ledger(world: World, client: Any) -> Ledger:
    owner = _owner(world)
    channel = make_channel(world.a, display_phone_number="+91 80000 12345")
    meera = _lead(world, name="Meera Iyer", phone=MEERA_PHONE)
    arjun = _lead(world, name="Arjun Rao", phone=ARJUN_PHONE, owner=_member(world.a, world.bob))
    wa_only = _lead(world, name="Kavya Nair", phone=None, email="kavya@example.in")
    with workspace_scope(world.a):
        # What inbound processing stores for a contact WhatsApp shows without a number.
        Conversation.objects.create(
            workspace=world.a,
            lead=wa_only,
            channel=channel,
            wa_user_id=WA_USER,
            wa_user_bidx=optout.contact_keys(workspace=world.a, wa_user=WA_USER).wa_user_bidx,
        )
    gone = _lead(world, name="Gone Person", phone=GONE_PHONE)

    optout.record_from_contact(
        workspace=world.a,
        channel=channel,
        phone=MEERA_PHONE,
        wa_user=None,
        opt_out=True,
        method="keyword",
        trigger="stop",
        event_key=EVENT_KEY,
    )
    optout.lead_opt_in(workspace=world.a, actor=owner, lead=meera)
    optout.lead_opt_out(
        workspace=world.a, actor=Actor.user(world.bob.pk, role=Role.SALES), lead=arjun
    )
    optout.record_from_contact(
        workspace=world.a,
        channel=channel,
        phone=None,
        wa_user=WA_USER,
        opt_out=True,
        method="whatsapp",
        trigger="user_preferences:stop",
    )
    optout.lead_opt_out(workspace=world.a, actor=owner, lead=gone)
    gone_lead_id = gone.pk  # delete() clears it on the instance
    lead_delete_now(workspace=world.a, actor=owner, lead=gone)
    alice_key = issue_key(world.a)
    response = client.post(f"/api/v1/leads/{meera.pk}/opt-out", **alice_key)
    assert response.status_code == 200, response.content
    with workspace_scope(world.a):
        records = list(OptOutRecord.objects.order_by("created_at", "seq"))
        api_key_id = str(ApiKey.objects.values_list("pk", flat=True).get())
    methods = [r.method for r in records]
    assert methods == ["keyword", "manual", "manual", "whatsapp", "manual", "api"]
    return Ledger(
        channel=channel,
        meera=meera,
        arjun=arjun,
        wa_only=wa_only,
        gone_lead_id=gone_lead_id,
        records=records,
        api_key_id=api_key_id,
        alice_key=alice_key,
    )


@pytest.fixture
def ledger(world: World, client: Any) -> Ledger:
    return build_ledger(world, client)


def _get(client: Any, key: dict[str, str], **params: Any) -> Any:
    return client.get(URL, params, **key)


def _ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["id"] for item in response.json()["items"]]


def _newest_first(records: list[OptOutRecord]) -> list[str]:
    return [str(r.pk) for r in reversed(records)]


def test_it_lists_every_record_newest_first_with_the_lead_it_concerns(
    client: Any, ledger: Ledger
) -> None:
    response = _get(client, ledger.alice_key)
    assert _ids(response) == _newest_first(ledger.records)
    body = response.json()
    assert body["next_cursor"] is None
    leads = [item["lead"] for item in reversed(body["items"])]
    meera, arjun, wa_only = str(ledger.meera.pk), str(ledger.arjun.pk), str(ledger.wa_only.pk)
    # keyword, staff opt-in, Bob's mark, WhatsApp preference, deleted lead, API.
    assert leads == [meera, meera, arjun, wa_only, None, meera]


def test_each_item_says_who_acted_without_personal_data(
    world: World, client: Any, ledger: Ledger
) -> None:
    items = {item["id"]: item for item in _get(client, ledger.alice_key).json()["items"]}
    keyword, opt_in, bobs, preference, _gone, api = (items[str(r.pk)] for r in ledger.records)
    assert keyword["actor_type"] == "system"
    assert keyword["actor_id"] is None
    assert keyword["trigger"] == "stop"
    assert keyword["channel"] == str(ledger.channel.pk)
    assert preference["trigger"] == "user_preferences:stop"
    assert opt_in["actor_type"] == "user"
    assert opt_in["actor_id"] == str(world.alice.pk)
    assert opt_in["status"] == "opted_in"
    assert opt_in["channel"] is None
    assert bobs["actor_id"] == str(world.bob.pk)
    assert api["actor_type"] == "api_key"
    assert api["actor_id"] == ledger.api_key_id
    assert set(keyword) == {
        "id", "status", "method", "trigger", "rule", "channel", "actor_type", "actor_id",
        "occurred_at", "created_at", "lead",
    }  # fmt: skip
    assert keyword["rule"] == ""  # written without the matcher
    assert api["rule"] == ""


def test_no_phone_number_blind_index_or_event_key_is_in_the_answer(
    client: Any, ledger: Ledger
) -> None:
    body = _get(client, ledger.alice_key).content.decode()
    for phone in (MEERA_PHONE, ARJUN_PHONE, GONE_PHONE):
        assert phone.removeprefix("+91") not in body
    for record in ledger.records:
        for index in (record.phone_bidx, record.wa_user_bidx):
            if index:
                assert index not in body
    assert EVENT_KEY not in body
    assert WA_USER not in body
    assert "Meera" not in body  # names are for the page only


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "opted_in"}, [1]),
        ({"status": "opted_out"}, [0, 2, 3, 4, 5]),
        ({"method": "manual"}, [1, 2, 4]),
        ({"method": "keyword"}, [0]),
        ({"method": "whatsapp"}, [3]),
        ({"method": "api"}, [5]),
        ({"method": "manual", "status": "opted_out"}, [2, 4]),
    ],
)
def test_status_and_method_filters_narrow_the_list(
    client: Any, ledger: Ledger, params: dict[str, str], expected: list[int]
) -> None:
    wanted = [str(ledger.records[i].pk) for i in reversed(expected)]
    assert _ids(_get(client, ledger.alice_key, **params)) == wanted


def test_the_channel_filter_keeps_the_records_that_came_through_that_number(
    world: World, client: Any, ledger: Ledger
) -> None:
    other = make_channel(world.a)
    expected = [str(ledger.records[i].pk) for i in (3, 0)]
    assert _ids(_get(client, ledger.alice_key, channel=str(ledger.channel.pk))) == expected
    assert _ids(_get(client, ledger.alice_key, channel=str(other.pk))) == []


def test_the_lead_filter_finds_the_contact_by_phone_or_whatsapp_user_id(
    client: Any, ledger: Ledger
) -> None:
    meera = [str(ledger.records[i].pk) for i in (5, 1, 0)]
    assert _ids(_get(client, ledger.alice_key, lead=str(ledger.meera.pk))) == meera
    wa_only = [str(ledger.records[3].pk)]
    assert _ids(_get(client, ledger.alice_key, lead=str(ledger.wa_only.pk))) == wa_only
    # A deleted lead, or one that never existed, is simply not found.
    assert _ids(_get(client, ledger.alice_key, lead=str(ledger.gone_lead_id))) == []


def test_since_and_until_bound_the_recording_time(client: Any, ledger: Ledger) -> None:
    third, fifth = ledger.records[2], ledger.records[4]
    since = third.created_at.isoformat()
    until = fifth.created_at.isoformat()
    assert _ids(_get(client, ledger.alice_key, since=since)) == _newest_first(ledger.records[2:])
    assert _ids(_get(client, ledger.alice_key, until=until)) == _newest_first(ledger.records[:5])
    both = _get(client, ledger.alice_key, since=since, until=until)
    assert _ids(both) == _newest_first(ledger.records[2:5])
    assert _ids(_get(client, ledger.alice_key, until="2020-01-01")) == []


def test_a_date_covers_its_whole_day_in_india_time(client: Any, ledger: Ledger) -> None:
    day = timezone.localdate(ledger.records[0].created_at).isoformat()
    everything = _newest_first(ledger.records)
    assert _ids(_get(client, ledger.alice_key, since=day, until=day)) == everything


def test_current_lists_only_contacts_opted_out_right_now(
    world: World, client: Any, ledger: Ledger
) -> None:
    # Arjun opts back in: his contact drops out of the current list.
    optout.lead_opt_in(workspace=world.a, actor=_owner(world), lead=ledger.arjun)
    expected = [str(ledger.records[i].pk) for i in (5, 4, 3)]
    assert _ids(_get(client, ledger.alice_key, current="true")) == expected
    # Meera's API opt-out is current; her older keyword opt-out is not.
    assert _ids(_get(client, ledger.alice_key, current="true", method="keyword")) == []
    assert len(_ids(_get(client, ledger.alice_key, current="false"))) == 7


def test_pages_follow_each_other_without_duplicates_or_gaps(
    world: World, client: Any, ledger: Ledger
) -> None:
    for n in range(7):  # contacts without a lead, to make several pages
        optout.record_from_contact(
            workspace=world.a,
            channel=ledger.channel,
            phone=f"+9198000000{n:02d}",
            wa_user=None,
            opt_out=True,
            method="keyword",
            trigger="stop",
        )
    with workspace_scope(world.a):
        everything = [
            str(pk)
            for pk in OptOutRecord.objects.order_by("-created_at", "-seq", "-id").values_list(
                "pk", flat=True
            )
        ]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = _get(client, ledger.alice_key, **params).json()
        assert len(body["items"]) <= 3
        seen += [item["id"] for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == everything
    assert pages == 5  # 13 records, 3 a page


def test_the_limit_is_capped(client: Any, ledger: Ledger) -> None:
    assert len(_ids(_get(client, ledger.alice_key, limit=1))) == 1
    assert len(_ids(_get(client, ledger.alice_key, limit=1000))) == 6


def test_sales_see_only_the_records_of_their_own_leads(world: World, ledger: Ledger) -> None:
    bob = Viewer(role=Role.SALES, member_id=_member(world.a, world.bob).pk)
    page = selectors_optout.optout_ledger_page(
        workspace=world.a, viewer=bob, filters=selectors_optout.LedgerFilters()
    )
    assert [row.record.pk for row in page.rows] == [ledger.records[2].pk]
    assert page.rows[0].lead == ledger.arjun
    # Meera's records are not Bob's to read, even when he asks for her by id.
    by_lead = selectors_optout.optout_ledger_page(
        workspace=world.a,
        viewer=bob,
        filters=selectors_optout.LedgerFilters(lead=ledger.meera.pk),
    )
    assert by_lead.rows == []


def test_a_sales_key_has_no_member_and_lists_nothing(
    world: World, client: Any, ledger: Ledger
) -> None:
    assert _ids(_get(client, issue_key(world.a, Role.SALES))) == []


def test_another_workspaces_records_never_appear(world: World, client: Any, ledger: Ledger) -> None:
    charlie = Actor.user(world.charlie.pk, role=Role.OWNER)
    theirs = lead_create(
        workspace=world.b,
        actor=charlie,
        name="Meera Iyer",
        phone=MEERA_PHONE,
        email=None,
        source="manual",
    ).lead
    optout.lead_opt_out(workspace=world.b, actor=charlie, lead=theirs)
    charlie_key = issue_key(world.b)
    items = _get(client, charlie_key).json()["items"]
    assert len(items) == 1
    assert items[0]["lead"] == str(theirs.pk)
    mine = {str(r.pk) for r in ledger.records}
    assert not mine & {item["id"] for item in items}
    # Nor does Alice's lead filter reach into B, or B's into A.
    assert _ids(_get(client, charlie_key, lead=str(ledger.meera.pk))) == []
    assert str(theirs.pk) not in _get(client, ledger.alice_key).content.decode()


def test_a_record_outlives_its_hard_deleted_lead_with_lead_null(
    client: Any, ledger: Ledger
) -> None:
    with workspace_scope(ledger.meera.workspace_id):
        assert not Lead.objects.filter(pk=ledger.gone_lead_id).exists()
    items = {item["id"]: item for item in _get(client, ledger.alice_key).json()["items"]}
    gone = items[str(ledger.records[4].pk)]
    assert gone["lead"] is None
    assert gone["status"] == "opted_out"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "paused"}, "status"),
        ({"method": "sms"}, "method"),
        ({"channel": "not-a-uuid"}, "channel"),
        ({"lead": "42"}, "lead"),
        ({"since": "2025-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2025-03-02", "until": "2025-03-01"}, "until"),
        ({"current": "perhaps"}, "current"),
        ({"cursor": "bm90LWEtY3Vyc29y"}, "cursor"),
        ({"cursor": "%%%"}, "cursor"),
        ({"phone": "+919812345678"}, "phone"),
        ({"limit": "many"}, "limit"),
    ],
)
def test_bad_parameters_answer_422_naming_the_field(
    client: Any, ledger: Ledger, params: dict[str, str], field: str
) -> None:
    response = _get(client, ledger.alice_key, **params)
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert "9812345678" not in response.content.decode()


def test_a_repeated_filter_answers_422(client: Any, ledger: Ledger) -> None:
    response = client.get(f"{URL}?status=opted_in&status=opted_out", **ledger.alice_key)
    assert response.status_code == 422
    assert "status" in response.json()["error"]["fields"]


def test_without_a_key_the_list_is_refused(client: Any, ledger: Ledger) -> None:
    assert client.get(URL).status_code == 401


def test_a_page_costs_the_same_few_queries_whatever_its_size(world: World, ledger: Ledger) -> None:
    owner = Viewer(role=Role.OWNER, member_id=None)
    bob = Viewer(role=Role.SALES, member_id=_member(world.a, world.bob).pk)

    def count(viewer: Viewer, limit: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            selectors_optout.optout_ledger_page(
                workspace=world.a,
                viewer=viewer,
                filters=selectors_optout.LedgerFilters(),
                limit=limit,
            )
        return len(queries)

    # Records, the leads by phone, the leads by WhatsApp user id (asked only when a record
    # on the page has one).
    assert count(owner, 1) == 2
    assert count(owner, 100) == 3
    # Sales also ask whether the unassigned pool is open; Bob's one record has a phone only.
    assert count(bob, 100) == 3
