"""The opt-out ledger: keywords, methods, state, append-only storage, and a ledger that
outlives the lead it was written for (P18, P20, P21)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.http import Http404

from conftest import World
from heroshhi.audit.models import AuditEvent
from heroshhi.core.actors import Actor
from heroshhi.core.tenancy import workspace_scope
from heroshhi.leads.models import Lead, TimelineEvent
from heroshhi.leads.services.leads import lead_create
from heroshhi.leads.services.trash import lead_delete_now
from heroshhi.messaging import keywords, optout
from heroshhi.messaging.models import MessagingSettings, OptOutRecord
from heroshhi.workspaces.permissions import Role

PHONE = "+919812345678"


def _owner(world: World) -> Actor:
    return Actor.user(world.alice.pk, role=Role.OWNER)


def _lead(world: World, phone: str = PHONE, *, actor: Actor | None = None) -> Lead:
    return lead_create(
        workspace=world.a,
        actor=actor or _owner(world),
        name="Meera Iyer",
        phone=phone,
        email=None,
        source="manual",
    ).lead


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "  Stop!  ",
        "STOP ALL",
        "Unsubscribe.",
        "cancel",
        "END",
        "quit",
        "opt-out",
        "Opt Out",
        "OPTOUT",
        "\uff33\uff34\uff2f\uff30",  # full-width STOP folds to ASCII under NFKC
        "रोकें",
        "बंद करो",
        "band karo",
        "Band Karo!!",
        "mat bhejo",
    ],
)
def test_each_opt_out_keyword_family_matches_on_the_whole_message(world: World, text: str) -> None:
    match = keywords.match_keyword(workspace=world.a, text=text)
    assert match is not None
    assert match.action == "opt_out"


@pytest.mark.parametrize(
    "text", ["START", "Subscribe", "unstop", "resume", "शुरू करें", "shuru karo", "Chalu karo."]
)
def test_resubscribe_keywords_match(world: World, text: str) -> None:
    match = keywords.match_keyword(workspace=world.a, text=text)
    assert match is not None
    assert match.action == "opt_in"


@pytest.mark.parametrize(
    "text",
    [
        "don't stop the delivery",
        "please stop by tomorrow",
        "Is the offer going to end soon?",
        "start the order please",
        "stopwatch",
        "",
        "🙂",
    ],
)
def test_words_inside_a_sentence_are_not_keywords(world: World, text: str) -> None:
    assert keywords.match_keyword(workspace=world.a, text=text) is None


def test_zero_width_joiners_do_not_break_a_hindi_keyword(world: World) -> None:
    match = keywords.match_keyword(workspace=world.a, text="रोकें\u200d")
    assert match is not None
    assert match.action == "opt_out"


def test_workspace_keywords_extend_the_lists_for_that_workspace_only(world: World) -> None:
    keywords.keywords_update(
        workspace=world.a, actor=_owner(world), optout=["No More", "bas"], optin=["haan ji"]
    )
    assert keywords.match_keyword(workspace=world.a, text="no more!").action == "opt_out"  # type: ignore[union-attr]
    assert keywords.match_keyword(workspace=world.a, text="Haan Ji").action == "opt_in"  # type: ignore[union-attr]
    assert keywords.match_keyword(workspace=world.a, text="STOP") is not None  # built-ins stay
    assert keywords.match_keyword(workspace=world.b, text="bas") is None


def test_workspace_keywords_get_the_built_in_tolerance(world: World) -> None:
    keywords.keywords_update(
        workspace=world.a, actor=_owner(world), optout=["bas"], optin=["haan ji"]
    )
    for text in ("bas karo plz", "Kripya bas kar dijiye 🙏", "basss"):
        match = keywords.match_keyword(workspace=world.a, text=text)
        assert match is not None, text
        assert match.action == "opt_out"
    match = keywords.match_keyword(workspace=world.a, text="haan ji, please")
    assert match is not None
    assert (match.action, match.keyword, match.rule) == ("opt_in", "haan ji", "filler")
    assert keywords.match_keyword(workspace=world.a, text="bas karo yaar, kal baat karte") is None


def test_a_workspace_opt_out_keyword_that_reads_as_a_built_in_opt_in_is_refused(
    world: World,
) -> None:
    with pytest.raises(ValidationError):
        keywords.keywords_update(
            workspace=world.a, actor=_owner(world), optout=["Startt"], optin=[]
        )


def test_keyword_lists_are_read_once_and_a_change_applies_at_once(
    world: World, django_assert_num_queries
) -> None:
    assert keywords.match_keyword(workspace=world.a, text="bas") is None  # reads and caches
    with django_assert_num_queries(0):
        assert keywords.match_keyword(workspace=world.a, text="STOP") is not None
        assert keywords.match_keyword(workspace=world.a, text="bas") is None

    keywords.keywords_update(workspace=world.a, actor=_owner(world), optout=["bas"], optin=[])

    assert keywords.match_keyword(workspace=world.a, text="Bas!").action == "opt_out"  # type: ignore[union-attr]
    keywords.keywords_update(workspace=world.a, actor=_owner(world), optout=[], optin=[])
    assert keywords.match_keyword(workspace=world.a, text="bas") is None


def test_cached_keyword_lists_expire(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    assert keywords.match_keyword(workspace=world.a, text="bas") is None
    # Another process changed the lists: this one's copy is stale until the TTL runs out.
    with workspace_scope(world.a):
        MessagingSettings.objects.create(workspace=world.a, extra_optout_keywords=["bas"])
    assert keywords.match_keyword(workspace=world.a, text="bas") is None
    later = optout.time.monotonic() + keywords.KEYWORD_CACHE_SECONDS + 1
    monkeypatch.setattr(optout.time, "monotonic", lambda: later)
    assert keywords.match_keyword(workspace=world.a, text="bas").action == "opt_out"  # type: ignore[union-attr]


def test_keyword_settings_refuse_a_word_on_both_lists_and_sales(world: World) -> None:
    with pytest.raises(ValidationError):
        keywords.keywords_update(workspace=world.a, actor=_owner(world), optout=["start"], optin=[])
    with pytest.raises(PermissionDenied):
        keywords.keywords_update(
            workspace=world.a,
            actor=Actor.user(world.bob.pk, role=Role.SALES),
            optout=["bas"],
            optin=[],
        )


def test_contact_keyword_opt_out_then_in_keeps_both_records(world: World) -> None:
    lead = _lead(world)
    changed = optout.record_from_contact(
        workspace=world.a,
        channel=None,
        phone=PHONE,
        wa_user=None,
        opt_out=True,
        method="keyword",
        trigger="stop",
        event_key="wamid.A1",
    )
    assert changed is True
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead)
    # Any format of the same number finds the same contact.
    assert optout.is_opted_out(workspace=world.a, phone="098123 45678")

    assert optout.record_from_contact(
        workspace=world.a,
        channel=None,
        phone=PHONE,
        wa_user=None,
        opt_out=False,
        method="keyword",
        trigger="start",
        event_key="wamid.A2",
    )
    assert not optout.lead_is_opted_out(workspace=world.a, lead=lead)
    ledger = optout.ledger_for_lead(workspace=world.a, lead=lead)
    assert [(r.status, r.method, r.trigger) for r in ledger] == [
        ("opted_in", "keyword", "start"),
        ("opted_out", "keyword", "stop"),
    ]
    with workspace_scope(world.a):
        kinds = list(TimelineEvent.objects.filter(lead=lead).values_list("kind", flat=True))
    assert "opted_out" in kinds
    assert "opted_in" in kinds


def test_a_redelivered_provider_event_is_recorded_once(world: World) -> None:
    _lead(world)
    event_key = optout.preference_event_key(
        contact_id="919812345678", timestamp=1750000000, value="stop"
    )

    def deliver() -> bool:
        return optout.record_from_contact(
            workspace=world.a,
            channel=None,
            phone=PHONE,
            wa_user=None,
            opt_out=True,
            method="whatsapp",
            trigger="user_preferences:stop",
            event_key=event_key,
        )

    assert deliver() is True
    assert deliver() is False
    with workspace_scope(world.a):
        assert OptOutRecord.objects.count() == 1


def test_ledger_outlives_the_lead_and_applies_to_a_recreated_one(world: World) -> None:
    lead = _lead(world)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    lead_delete_now(workspace=world.a, actor=_owner(world), lead=lead)
    with workspace_scope(world.a):
        assert not Lead.objects.filter(pk=lead.pk).exists()
        assert OptOutRecord.objects.count() == 1

    again = _lead(world, phone="+91 98123 45678")
    assert optout.lead_is_opted_out(workspace=world.a, lead=again)


def test_ledger_is_per_workspace(world: World) -> None:
    lead = _lead(world)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead, method="api")
    assert optout.is_opted_out(workspace=world.a, phone=PHONE)
    assert not optout.is_opted_out(workspace=world.b, phone=PHONE)


def test_contact_known_only_by_whatsapp_user_id(world: World) -> None:
    assert optout.record_from_contact(
        workspace=world.a,
        channel=None,
        phone=None,
        wa_user="IN.13491208655302741918",
        opt_out=True,
        method="whatsapp",
        trigger="user_preferences:stop",
    )
    assert optout.is_opted_out(workspace=world.a, wa_user="IN.13491208655302741918")
    assert not optout.is_opted_out(workspace=world.a, wa_user="IN.999")


def test_staff_opt_out_is_audited_without_personal_data(world: World) -> None:
    lead = _lead(world)
    state = optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    assert state.opted_out
    assert state.latest is not None
    assert state.latest.method == "manual"
    assert state.latest.actor_id == str(world.alice.pk)
    event = AuditEvent.objects.filter(action="optout_recorded").get()
    assert event.target_id == str(lead.pk)
    assert "98123" not in str(event.metadata)
    assert "Meera" not in str(event.metadata)


def test_sales_may_honour_a_stop_but_not_opt_someone_back_in(world: World) -> None:
    bob = Actor.user(world.bob.pk, role=Role.SALES)
    lead = _lead(world, actor=bob)
    optout.lead_opt_out(workspace=world.a, actor=bob, lead=lead)
    with pytest.raises(PermissionDenied):
        optout.lead_opt_in(workspace=world.a, actor=bob, lead=lead)
    assert optout.lead_opt_in(workspace=world.a, actor=_owner(world), lead=lead).opted_out is False


def test_sales_cannot_touch_a_lead_that_is_not_theirs(world: World) -> None:
    lead = _lead(world)  # Alice's, unassigned to Bob
    with pytest.raises(Http404):
        optout.lead_opt_out(
            workspace=world.a, actor=Actor.user(world.bob.pk, role=Role.SALES), lead=lead
        )


def test_a_lead_without_phone_or_whatsapp_id_cannot_be_opted_out(world: World) -> None:
    lead = lead_create(
        workspace=world.a,
        actor=_owner(world),
        name="No Number",
        phone=None,
        email="n@example.in",
        source="manual",
    ).lead
    with pytest.raises(ValidationError):
        optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)


def test_opted_out_phone_indexes_uses_each_contacts_latest_record(world: World) -> None:
    first = _lead(world)
    second = _lead(world, phone="+919800000001")
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=first)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=second)
    optout.lead_opt_in(workspace=world.a, actor=_owner(world), lead=second)
    out = optout.opted_out_phone_indexes(
        workspace=world.a, phone_bidxs=[first.phone_bidx or "", second.phone_bidx or ""]
    )
    assert out == {first.phone_bidx}


def test_ledger_rows_cannot_be_changed_or_deleted_through_the_model(world: World) -> None:
    lead = _lead(world)
    state = optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    record = state.latest
    assert record is not None
    record.status = OptOutRecord.Status.OPTED_IN
    with pytest.raises(ValueError, match="append-only"):
        record.save()
    with pytest.raises(ValueError, match="never deleted"):
        record.delete()


def test_the_database_refuses_a_raw_update_of_the_ledger(world: World) -> None:
    lead = _lead(world)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_optoutrecord SET status = 'opted_in'")
    assert optout.lead_is_opted_out(workspace=world.a, lead=lead)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="DELETE is refused on PostgreSQL")
def test_postgres_refuses_a_raw_delete_of_the_ledger(world: World) -> None:
    lead = _lead(world)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM messaging_optoutrecord")
    with workspace_scope(world.a):
        assert OptOutRecord.objects.count() == 1


def test_the_database_refuses_a_raw_update_of_the_newest_column_too(world: World) -> None:
    lead = _lead(world)
    optout.lead_opt_out(workspace=world.a, actor=_owner(world), lead=lead)
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE messaging_optoutrecord SET occurred_at = created_at")
