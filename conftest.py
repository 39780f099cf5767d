"""The three-tenant world every test can use.

Alice owns workspace A, Bob is sales in A, Charlie owns workspace B and must see nothing of A.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from heroshhi.accounts.models import User
from heroshhi.accounts.services import user_create
from heroshhi.core.actors import Actor
from heroshhi.whatsapp.simulator import SimulatorClient, running_simulator
from heroshhi.workspaces.models import Workspace
from heroshhi.workspaces.permissions import Role
from heroshhi.workspaces.services import membership_create, workspace_create

PASSWORD = "correct horse battery staple 42"


@dataclass
class World:
    alice: User
    bob: User
    charlie: User
    a: Workspace
    b: Workspace


@pytest.fixture(scope="session", autouse=True)
def _test_database_released(django_db_setup, django_db_blocker) -> Iterator[None]:
    """Before the test database is dropped, end the sessions a live server's request
    threads may still hold on it (PostgreSQL refuses to drop a database in use)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )


@pytest.fixture(autouse=True)
def _audit_events_linked_in_test_transactions(request, monkeypatch) -> None:
    """Audit events are linked into their chain by the sequencer once the writer commits
    (heroshhi/audit/sequencer.py). A test inside a transaction that is rolled back at its end
    never commits, so nothing would wake the sequencer: there, each event is linked at once,
    in that transaction, which is the state a commit and the eager wake-up reach a moment
    later. Where a transaction does commit (``transaction=True`` tests), the real wake-up on
    commit runs. ``@pytest.mark.audit_queue`` turns both off: events stay queued until the
    test runs the sequencer itself."""
    from django.db import connection

    from heroshhi.audit import sequencer

    wake_on_commit = sequencer.sequence_after_commit

    def link(chain: str) -> None:
        if request.node.get_closest_marker("audit_queue"):
            return
        # Django marks the atomic blocks a test case opens (and rolls back) this way.
        if any(getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
            sequencer.link_pending(chain)
        else:
            wake_on_commit(chain)

    monkeypatch.setattr(sequencer, "sequence_after_commit", link)


@pytest.fixture
def world(db) -> World:
    alice = user_create(email="alice@a.example", password=PASSWORD, full_name="Alice")
    bob = user_create(email="bob@a.example", password=PASSWORD, full_name="Bob")
    charlie = user_create(email="charlie@b.example", password=PASSWORD, full_name="Charlie")
    a = workspace_create(actor=Actor.system(), name="Alpha Traders", slug="alpha", owner=alice)
    b = workspace_create(actor=Actor.system(), name="Beta Exports", slug="beta", owner=charlie)
    membership_create(workspace=a, user=bob, role=Role.SALES)
    return World(alice=alice, bob=bob, charlie=charlie, a=a, b=b)


# --- WhatsApp Cloud API simulator (heroshhi/whatsapp/simulator) -------------------------------


@pytest.fixture(scope="session")
def _wa_simulator_server() -> Iterator[SimulatorClient]:
    # One real loopback server per test process (each xdist worker gets its own).
    with running_simulator(port=0, latency_ms=10) as client:
        yield client


@pytest.fixture
def wa_simulator(_wa_simulator_server: SimulatorClient, settings) -> Iterator[SimulatorClient]:
    """A running WhatsApp Cloud API simulator, reset for this test, that the app talks to.

    `settings.WHATSAPP_GRAPH_BASE_URL` points at it for the test. The reset forgets everything,
    numbers included (settings and templates go back to the defaults), so register the
    channel you use in each test:
    `wa_simulator.add_number(phone_number_id=..., waba_id=..., display_phone_number=...,
    access_token=..., app_secret=..., webhook_url=live_server.url + "/webhooks/whatsapp/<id>/")`.
    Then drive the customer with `wa_simulator.say(from_="919876543210", text="Hi")`,
    `.user_preferences(wa_id=..., value="stop")`, `.read(to=...)`, inspect with `.outbox()` and
    `.webhook_log()` / `.wait_for_webhooks(...)`, and tune with `.configure(latency_ms=0,
    auto_read=True, duplicate=1, reorder=True, batch=True, pair_limit=2, ...)`,
    `.advance_clock(25 * 3600)`. Full control API: heroshhi/whatsapp/simulator/__init__.py.
    """
    _wa_simulator_server.reset(everything=True)
    settings.WHATSAPP_GRAPH_BASE_URL = _wa_simulator_server.base_url
    yield _wa_simulator_server
    # Before the database is emptied: no late status webhook of this test may reach the
    # live server (on SQLite it shares the test's connection) while it is.
    _wa_simulator_server.reset(everything=True)


# --- The API fuzz job's count (heroshhi/api/tests/test_fuzz.py) -------------------------------


def pytest_terminal_summary(terminalreporter) -> None:
    """CI shows how many cases schemathesis ran, per role and status, even under xdist."""
    per_role: dict[str, dict[int, int]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == "fuzz_cases":
                    per_role.update(value)
    if not per_role:
        return
    total = sum(sum(statuses.values()) for statuses in per_role.values())
    terminalreporter.write_sep("-", f"API fuzz: {total} cases")
    for role, statuses in sorted(per_role.items()):
        by_status = ", ".join(f"{code}: {count}" for code, count in sorted(statuses.items()))
        terminalreporter.write_line(f"{role}: {sum(statuses.values())} ({by_status})")
