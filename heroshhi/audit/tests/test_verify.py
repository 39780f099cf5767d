from __future__ import annotations

import pytest

from heroshhi.audit.actions import AuditAction
from heroshhi.audit.models import PLATFORM_CHAIN, AuditChainHead, AuditCheckpoint, AuditEvent
from heroshhi.audit.tests import tampering
from heroshhi.audit.verify import ProblemCode, verify_chain, verify_chains

pytestmark = pytest.mark.django_db


@pytest.fixture
def chain_a(record, workspace_a) -> str:
    for n in range(6):
        record(workspace_a, metadata={"n": n})
    return str(workspace_a.pk)


def _problem(chain: str) -> tuple[ProblemCode, int | None]:
    result = verify_chain(chain, batch_size=2)  # small pages exercise the paging too
    assert result.problem is not None, "tampering went unnoticed"
    return result.problem.code, result.problem.seq


def test_many_events_across_two_workspaces_and_the_platform_all_verify(
    record, workspace_a, workspace_b
):
    for n in range(25):
        record(workspace_a, metadata={"n": n, "ratio": n / 7, "fields": ["stage"]})
        record(workspace_b, AuditAction.LEAD_CREATED, metadata={"big": 1e20, "whole": 2.0})
        if n % 5 == 0:
            record(None, AuditAction.AUTHN_LOGIN_FAIL, reason="bad_password")

    results = verify_chains(batch_size=7)

    assert [r.chain for r in results] == [
        PLATFORM_CHAIN,
        *sorted([str(workspace_a.pk), str(workspace_b.pk)]),
    ]
    assert all(r.ok for r in results), [r.problem for r in results]
    assert {r.chain: r.events_checked for r in results} == {
        PLATFORM_CHAIN: 5,
        str(workspace_a.pk): 25,
        str(workspace_b.pk): 25,
    }


def test_an_empty_chain_verifies():
    result = verify_chain(PLATFORM_CHAIN)
    assert result.ok
    assert result.events_checked == 0


def test_an_edited_row_is_reported_as_a_mac_mismatch(chain_a):
    tampering.edit_metadata(chain_a, 3, '{"n": 99}')
    assert _problem(chain_a) == (ProblemCode.MAC_MISMATCH, 3)


def test_a_deleted_row_is_reported_as_a_seq_gap(chain_a):
    tampering.delete_event(chain_a, 4)
    assert _problem(chain_a) == (ProblemCode.SEQ_GAP, 4)


def test_deleting_the_newest_rows_is_reported_against_the_head(chain_a):
    tampering.delete_event(chain_a, 6)
    assert _problem(chain_a) == (ProblemCode.HEAD_MISMATCH, 6)


def test_a_forged_row_appended_behind_the_services_back_is_reported(chain_a):
    last = AuditEvent.objects.get(chain=chain_a, seq=6)
    forged = AuditEvent(
        chain=chain_a,
        seq=7,
        occurred_at=last.occurred_at,
        actor_type=last.actor_type,
        action=AuditAction.DATA_EXPORT,
        outcome=last.outcome,
        prev_mac=last.mac,
        mac="f" * 64,  # without the audit key a valid MAC cannot be made
        key_id=last.key_id,
    )
    tampering.insert_event(forged)
    assert _problem(chain_a) == (ProblemCode.BEYOND_HEAD, 7)

    # Moving the head along as well does not help: the MAC gives the forgery away.
    tampering.raw_sql(
        "UPDATE audit_auditchainhead SET last_seq = 7, last_mac = %s WHERE chain = %s",
        ["f" * 64, chain_a],
    )
    assert _problem(chain_a) == (ProblemCode.MAC_MISMATCH, 7)


def test_a_swapped_pair_is_reported_as_a_broken_link(chain_a):
    tampering.swap_events(chain_a, 2)
    assert _problem(chain_a) == (ProblemCode.BROKEN_LINK, 2)


def test_a_row_sealed_with_an_unknown_key_is_reported(record, workspace_a, settings):
    settings.AUDIT_HMAC_KEY = "an-old-key-that-was-thrown-away"
    record(workspace_a)
    settings.AUDIT_HMAC_KEY = "the-current-key"
    assert _problem(str(workspace_a.pk)) == (ProblemCode.UNKNOWN_KEY, 1)


def test_rows_sealed_before_a_key_rotation_verify_with_the_previous_key(
    record, workspace_a, settings
):
    settings.AUDIT_HMAC_KEY = "key-of-last-year"
    record(workspace_a)
    settings.AUDIT_HMAC_KEY = "key-of-this-year"
    settings.AUDIT_HMAC_PREVIOUS_KEYS = ["key-of-last-year"]
    record(workspace_a)
    result = verify_chain(str(workspace_a.pk))
    assert result.ok, result.problem
    assert result.events_checked == 2


def test_a_forged_checkpoint_cannot_hide_deleted_rows(chain_a):
    fourth = AuditEvent.objects.get(chain=chain_a, seq=4)
    for seq in range(1, 5):
        tampering.delete_event(chain_a, seq)
    AuditCheckpoint(
        chain=chain_a,
        first_seq=1,
        through_seq=4,
        through_mac=fourth.mac,
        count=4,
        purged_at=fourth.occurred_at,
        key_id=fourth.key_id,
        mac="0" * 64,
    ).save()
    assert _problem(chain_a) == (ProblemCode.CHECKPOINT_INVALID, 4)


def test_a_missing_head_is_reported(chain_a):
    tampering.raw_sql("DELETE FROM audit_auditchainhead WHERE chain = %s", [chain_a])
    assert not AuditChainHead.objects.filter(chain=chain_a).exists()
    assert _problem(chain_a) == (ProblemCode.HEAD_MISSING, 1)
