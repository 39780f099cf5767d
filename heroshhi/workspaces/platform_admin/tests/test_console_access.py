"""Only staff reach the console; everyone else gets the same 404 as for a missing page."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from conftest import World
from heroshhi.audit.actions import AuditAction, Outcome
from heroshhi.audit.models import PLATFORM_CHAIN, AuditEvent
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.platform_admin.tests.helpers import login


def console_urls(world: World) -> dict[str, str]:
    """Every route of the console, by name, pointed at workspace A where it takes one."""
    ids = {"workspace_id": world.a.pk}
    return {
        "platform:workspaces": reverse("platform:workspaces"),
        "platform:workspace_detail": reverse("platform:workspace_detail", kwargs=ids),
        "platform:workspace_suspend": reverse("platform:workspace_suspend", kwargs=ids),
        "platform:workspace_reactivate": reverse("platform:workspace_reactivate", kwargs=ids),
        "platform:audit_events": reverse("platform:audit_events"),
        "platform:audit_verify": reverse("platform:audit_verify"),
    }


def test_every_console_route_is_probed_here(world):
    resolver = get_resolver().namespace_dict["platform"][1]
    routes = {f"platform:{name}" for name in resolver.reverse_dict if isinstance(name, str)}
    assert routes == set(console_urls(world))


@pytest.mark.parametrize("who", ["anonymous", "alice", "bob", "charlie"])
def test_everyone_but_staff_gets_404_on_every_console_page(client: Client, world, who):
    if who != "anonymous":
        login(client, getattr(world, who))
    for name, url in console_urls(world).items():
        assert client.get(url).status_code == 404, name
        assert client.post(url, {"reason": "abuse"}).status_code == 404, name
    world.a.refresh_from_db()
    assert world.a.status == Workspace.Status.ACTIVE


def test_a_signed_in_customer_probing_the_console_is_recorded(client: Client, world):
    login(client, world.alice)
    client.get(reverse("platform:workspaces"))
    event = AuditEvent.objects.filter(chain=PLATFORM_CHAIN).latest("seq")
    assert event.action == AuditAction.AUTHZ_FAIL
    assert event.outcome == Outcome.DENIED
    assert event.actor_id == str(world.alice.pk)
    assert (event.target_type, event.reason) == ("platform_console", "not_staff")


def test_anonymous_probes_are_not_recorded(client: Client, world):
    client.get(reverse("platform:workspaces"))
    assert not AuditEvent.objects.filter(chain=PLATFORM_CHAIN).exists()


def test_staff_open_every_console_page(staff_client: Client, world):
    urls = console_urls(world)
    for name in ("platform:workspaces", "platform:workspace_detail", "platform:audit_events"):
        assert staff_client.get(urls[name]).status_code == 200, name


def test_actions_take_post_only(staff_client: Client, world):
    urls = console_urls(world)
    for name in ("platform:workspace_suspend", "platform:audit_verify"):
        assert staff_client.get(urls[name]).status_code == 405, name


def test_an_unknown_workspace_is_404_for_staff_too(staff_client: Client, world):
    url = reverse(
        "platform:workspace_detail", kwargs={"workspace_id": "00000000-0000-4000-8000-000000000000"}
    )
    assert staff_client.get(url).status_code == 404


@pytest.mark.parametrize(
    "name", ["platform:workspaces", "platform:workspace_detail", "platform:audit_events"]
)
def test_console_pages_use_nothing_the_csp_blocks(staff_client: Client, world, name):
    response = staff_client.get(console_urls(world)[name])
    html = response.content.decode()
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)  # type: ignore[union-attr]
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert f'nonce="{nonce}"' in tag, tag
        assert ' src="/static/' in tag, tag
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", html, flags=re.DOTALL)
    assert not any(body.strip() for body in bodies), "inline script body"
    assert not re.search(r"\son[a-z]+\s*=", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=", html), "inline style attribute"
    assert "<style" not in html
