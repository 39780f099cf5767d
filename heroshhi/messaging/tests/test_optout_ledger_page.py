"""The opt-out ledger page at /w/<slug>/inbox/opt-outs/: filters with their messages, who
acted, the lead each record concerns (or none once it is deleted), paging, who may see
which records, and never a contact's phone number on the page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from conftest import PASSWORD, World
from heroshhi.messaging import optout
from heroshhi.messaging.tests.test_api_optouts import (
    ARJUN_PHONE,
    GONE_PHONE,
    MEERA_PHONE,
    Ledger,
    build_ledger,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger(world: World, client: Any) -> Ledger:
    return build_ledger(world, client)


def _url(world: World) -> str:
    return reverse("messaging:optout_ledger", kwargs={"slug": world.a.slug})


def _login(client: Any, user: Any) -> None:
    assert client.login(email=user.email, password=PASSWORD)


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def test_the_owner_sees_every_record_with_who_acted_and_the_lead(
    world: World, client: Any, ledger: Ledger
) -> None:
    _login(client, world.alice)
    response = client.get(_url(world))
    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    assert len(rows) == 6
    newest, gone, preference, bobs, opt_in, keyword = rows
    assert "API" in newest
    assert "No lead (deleted)" in gone
    assert "Alice" in gone
    assert "WhatsApp preference" in preference
    assert "user_preferences:stop" in preference
    assert "Kavya Nair" in preference
    assert "Bob" in bobs
    assert "Arjun Rao" in bobs
    assert "Opted in" in opt_in
    assert "Contact" in keyword
    assert "<code>stop</code>" in keyword
    assert "+91 80000 12345" in keyword  # the business's own number, not the contact's
    lead_url = reverse("leads:detail", kwargs={"slug": world.a.slug, "lead_id": ledger.meera.pk})
    assert f'href="{lead_url}"' in keyword


def test_no_contact_phone_number_is_on_the_page(world: World, client: Any, ledger: Ledger) -> None:
    _login(client, world.alice)
    html = client.get(_url(world)).content.decode()
    for phone in (MEERA_PHONE, ARJUN_PHONE, GONE_PHONE):
        assert phone.removeprefix("+91") not in html
    for record in ledger.records:
        if record.phone_bidx:
            assert record.phone_bidx not in html


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ({"status": "opted_in"}, 1),
        ({"method": "manual"}, 3),
        ({"current": "true"}, 4),
        ({"since": "2020-01-01", "until": "2020-12-31"}, 0),
    ],
)
def test_filters_narrow_the_table_and_stay_filled_in(
    world: World, client: Any, ledger: Ledger, query: dict[str, str], count: int
) -> None:
    _login(client, world.alice)
    response = client.get(_url(world), query)
    assert response.status_code == 200
    html = response.content.decode()
    rows = _rows(html)
    if count == 0:
        assert "No records here" in html
    else:
        assert len(rows) == count
    if "status" in query:
        assert '<option value="opted_in" selected>' in html
    if "current" in query:
        assert 'name="current" value="true" checked' in html


def test_the_channel_filter_lists_the_numbers(world: World, client: Any, ledger: Ledger) -> None:
    _login(client, world.alice)
    html = client.get(_url(world), {"channel": str(ledger.channel.pk)}).content.decode()
    assert f'<option value="{ledger.channel.pk}" selected>' in html
    assert len(_rows(html)) == 2


def test_a_bad_date_shows_a_message_next_to_the_field(
    world: World, client: Any, ledger: Ledger
) -> None:
    _login(client, world.alice)
    response = client.get(_url(world), {"since": "2025-13-40", "status": "opted_in"})
    assert response.status_code == 400
    html = response.content.decode()
    since_field = html.split('for="ledger-since"', 1)[1].split("</div>", 1)[0]
    assert "Enter a date as YYYY-MM-DD." in since_field
    assert 'aria-invalid="true"' in since_field
    assert "No records here" in html


def test_an_end_before_the_start_is_refused(world: World, client: Any, ledger: Ledger) -> None:
    _login(client, world.alice)
    response = client.get(_url(world), {"since": "2025-03-02", "until": "2025-03-01"})
    assert response.status_code == 400
    assert "The end cannot be before the start." in response.content.decode()


def test_a_broken_page_link_is_a_message_not_an_error(
    world: World, client: Any, ledger: Ledger
) -> None:
    _login(client, world.alice)
    response = client.get(_url(world), {"cursor": "garbage"})
    assert response.status_code == 400
    assert "This page link is not valid." in response.content.decode()


def test_older_records_are_one_link_away_with_the_filters_kept(
    world: World, client: Any, ledger: Ledger
) -> None:
    for n in range(50):  # contacts without a lead: 56 records, 55 of them opt-outs
        optout.record_from_contact(
            workspace=world.a,
            channel=ledger.channel,
            phone=f"+9197000000{n:02d}",
            wa_user=None,
            opt_out=True,
            method="keyword",
            trigger="stop",
        )
    _login(client, world.alice)
    first = client.get(_url(world), {"status": "opted_out"}).content.decode()
    assert len(_rows(first)) == 50
    link = re.search(r'href="\?([^"]+)" rel="next"', first)
    assert link is not None
    older_query = link.group(1).replace("&amp;", "&")
    assert "status=opted_out" in older_query
    second = client.get(f"{_url(world)}?{older_query}").content.decode()
    assert len(_rows(second)) == 5  # 55 opted-out records in all
    assert 'rel="next"' not in second
    assert "Newest records" in second
    first_ids = set(re.findall(r'datetime="([^"]+)"', first))
    assert not first_ids & set(re.findall(r'datetime="([^"]+)"', second))


def test_sales_see_only_the_records_of_their_own_leads(
    world: World, client: Any, ledger: Ledger
) -> None:
    _login(client, world.bob)
    response = client.get(_url(world))
    assert response.status_code == 200
    html = response.content.decode()
    [row] = _rows(html)
    assert "Arjun Rao" in row
    assert "Meera" not in html
    assert "Kavya" not in html


def test_another_workspaces_member_gets_404(world: World, client: Any, ledger: Ledger) -> None:
    _login(client, world.charlie)
    assert client.get(_url(world)).status_code == 404


def test_the_inbox_links_to_the_ledger(world: World, client: Any) -> None:
    _login(client, world.alice)
    html = client.get(reverse("messaging:inbox", kwargs={"slug": world.a.slug})).content.decode()
    assert f'href="{_url(world)}"' in html
