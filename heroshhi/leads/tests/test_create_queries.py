"""The statements one ``POST /api/v1/leads`` costs, held so that the create path cannot
quietly grow a query (issue #13: creates at the machine's pace)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from heroshhi.leads.tests.conftest import issue_key

# The event stays queued for the sequencer, as in production (ADR 0015).
pytestmark = [pytest.mark.django_db, pytest.mark.audit_queue]
URL = "/api/v1/leads"


def _statements(client, key, body) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post(URL, body, content_type="application/json", **key)
    assert response.status_code == 201, response.content
    # A test's workspace keys were made in a transaction that never commits, so they are
    # never cached and read on every use; a server reads them once per cache period.
    return [
        query["sql"]
        for query in captured.captured_queries
        if '"core_workspacekey"' not in query["sql"]
    ]


@pytest.fixture
def alice_key(world):
    return issue_key(world.a)


def _warm(client, key) -> None:
    """The workspace's first create makes its stages and the key's first use is recorded;
    neither happens again for a minute."""
    first = client.post(URL, {"name": "First"}, content_type="application/json", **key)
    assert first.status_code == 201


def test_a_new_lead_with_phone_email_and_a_tag_costs_fourteen_statements(client, alice_key):
    _warm(client, alice_key)
    _statements(client, alice_key, {"name": "Tag Maker", "tags": ["hot"]})  # creates the tag
    statements = _statements(
        client,
        alice_key,
        {"name": "Priya Sharma", "phone": "98765 43210", "email": "p@example.in", "tags": ["hot"]},
    )
    # Key; the create's savepoint (its transaction, inside the test's); the lead's savepoint,
    # duplicate check, default stage, assignment, lead, release; name tokens, tag lookup, tag
    # link, timeline, audit event; release. The answer reads nothing back.
    assert len(statements) == 14, "\n".join(statements)


def test_a_new_lead_without_phone_or_tags_skips_the_savepoint_and_the_tag_statements(
    client, alice_key
):
    _warm(client, alice_key)
    statements = _statements(client, alice_key, {"name": "Priya Sharma"})
    # Key; savepoint; default stage, assignment, lead, name tokens, timeline, audit; release.
    assert len(statements) == 9, "\n".join(statements)
