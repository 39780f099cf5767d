"""Blind indexes: equal inputs match within a workspace and nowhere else."""

from __future__ import annotations

from contextlib import nullcontext

import pytest

from heroshhi.core.crypto import (
    EMAIL,
    PHONE,
    BlindIndexField,
    BlindIndexValueError,
    blind_index,
    blind_index_memo,
    name_tokens,
    normalise_email,
    normalise_phone,
    split_name_tokens,
)
from heroshhi.core.crypto.blind_indexes import _digest, blind_index_of_normalised
from heroshhi.core.crypto.keys import index_key
from heroshhi.core.models import WorkspaceKey
from heroshhi.core.tenancy import workspace_scope
from heroshhi.core.tests.crypto.testapp.models import SecretNote

pytestmark = pytest.mark.django_db

INDIAN_FORMATS = ["98765 43210", "098765-43210", "919876543210", "+91 98765 43210"]


def test_it_is_deterministic_within_a_workspace(world):
    first = blind_index(world.a.pk, "phone", "+91 98765 43210")
    assert blind_index(world.a.pk, "phone", "+91 98765 43210") == first
    assert len(first) == 32
    assert int(first, 16) >= 0  # hex


def test_it_differs_across_workspaces(world):
    assert blind_index(world.a.pk, "email", "a@b.in") != blind_index(world.b.pk, "email", "a@b.in")


@pytest.mark.parametrize("written", INDIAN_FORMATS)
def test_every_common_indian_phone_format_gives_the_same_index(world, written):
    assert normalise_phone(written) == "+919876543210"
    assert blind_index(world.a.pk, "phone", written) == blind_index(
        world.a.pk, "phone", INDIAN_FORMATS[-1]
    )


def test_phone_and_email_kinds_never_collide(world):
    text = "+919876543210"
    email = "+919876543210@wa.example"
    assert blind_index(world.a.pk, "phone", text) != blind_index(world.a.pk, "email", email)
    assert blind_index(world.a.pk, "name_token", "ravi") != blind_index(
        world.a.pk, "email", "ravi@x.in"
    )
    # Even the same normalised text differs under two kinds: the kind is hashed too.
    key = index_key(world.a.pk)
    assert _digest(key, "phone", "same") != _digest(key, "email", "same")


@pytest.mark.parametrize("junk", ["12345", "abc", "", "0000000000", "+91 98765"])
def test_junk_phone_numbers_raise_without_echoing_them(world, junk):
    with pytest.raises(BlindIndexValueError) as caught:
        blind_index(world.a.pk, "phone", junk)
    assert isinstance(caught.value, ValueError)
    if junk:
        assert junk not in str(caught.value)


def test_emails_are_trimmed_and_lower_cased(world):
    assert normalise_email("  Priya.S@Example.IN ") == "priya.s@example.in"
    assert blind_index(world.a.pk, "email", "  Priya.S@Example.IN ") == blind_index(
        world.a.pk, "email", "priya.s@example.in"
    )
    with pytest.raises(BlindIndexValueError):
        normalise_email("not an email")


def test_names_give_one_index_per_distinct_word(world):
    assert split_name_tokens("  Anita   KUMARI-Devi, anita ") == ["anita", "kumari", "devi"]
    indexes = name_tokens(world.a.pk, "Anita Kumari")
    assert indexes == [
        blind_index(world.a.pk, "name_token", "ANITA"),
        blind_index(world.a.pk, "name_token", "kumari"),
    ]
    assert name_tokens(world.a.pk, "  ") == []


def test_hindi_names_keep_their_vowel_signs_and_fullwidth_text_is_folded(world):
    assert split_name_tokens("राहुल कुमार") == ["राहुल", "कुमार"]
    assert split_name_tokens("\uff21\uff2e\uff29\uff34\uff21")  # full-width ANITA == ["anita"]
    assert blind_index(world.a.pk, "name_token", "Straße") == blind_index(
        world.a.pk, "name_token", "STRASSE"
    )


def test_a_name_token_must_be_one_word(world):
    with pytest.raises(BlindIndexValueError, match="name_tokens"):
        blind_index(world.a.pk, "name_token", "two words")


def test_an_unknown_kind_is_a_programming_error(world):
    with pytest.raises(ValueError, match="unknown blind index kind"):
        blind_index(world.a.pk, "aadhaar", "1234")


def test_the_index_key_is_separate_from_the_data_key(world):
    note = SecretNote(workspace=world.a, body="x")
    note.save()
    blind_index(world.a.pk, "email", "a@b.in")
    keys = WorkspaceKey.objects.filter(workspace=world.a)
    assert sorted(keys.values_list("purpose", flat=True)) == ["data", "index"]
    assert len(set(keys.values_list("key_id", flat=True))) == 2


def test_the_index_column_finds_the_row(world):
    with workspace_scope(world.a):
        note = SecretNote(
            workspace=world.a,
            body="+91 98765 43210",
            phone_bidx=blind_index(world.a.pk, "phone", "+91 98765 43210"),
        )
        note.save()
        wanted = blind_index(world.a.pk, "phone", "098765-43210")
        assert list(SecretNote.objects.filter(phone_bidx=wanted)) == [note]


def test_the_index_field_is_an_indexed_fixed_width_column():
    field = BlindIndexField()
    assert (field.max_length, field.db_index, field.editable) == (32, True, False)  # type: ignore[attr-defined]
    assert field.deconstruct()[3] == {}
    kwargs = BlindIndexField(db_index=False, null=True).deconstruct()[3]
    assert kwargs == {"db_index": False, "null": True}


def test_a_memo_block_reads_each_value_once_and_gives_the_same_indexes(world, monkeypatch):
    from heroshhi.core.crypto import blind_indexes

    plain = {
        workspace.pk: blind_index(workspace.pk, "phone", "+91 98765 43210")
        for workspace in (world.a, world.b)
    }
    reads: list[str] = []

    def counting(value: str) -> str:
        reads.append(value)
        return normalise_phone(value)

    monkeypatch.setitem(blind_indexes.NORMALISERS, "phone", counting)
    with blind_index_memo():
        for _ in range(3):
            assert blind_index(world.a.pk, "phone", "+91 98765 43210") == plain[world.a.pk]
            assert blind_index(world.b.pk, "phone", "+91 98765 43210") == plain[world.b.pk]
        with pytest.raises(BlindIndexValueError):
            blind_index(world.a.pk, "phone", "12")
    assert reads == ["+91 98765 43210", "+91 98765 43210", "12"]

    # Outside the block nothing is remembered.
    blind_index(world.a.pk, "phone", "+91 98765 43210")
    assert len(reads) == 4


def test_a_memo_block_gives_what_blind_index_and_name_tokens_give(world):
    phone = normalise_phone("98765 43210")
    names = ("Anjali Nair", "anjali  NAIR anjali", "राहुल शर्मा", "")
    plain = {
        "phone": blind_index(world.a.pk, PHONE, "+919876543210"),
        "email": blind_index(world.a.pk, EMAIL, "anjali@example.in"),
        "names": [name_tokens(world.a.pk, name) for name in names],
        "other": blind_index(world.b.pk, PHONE, phone),
    }
    with blind_index_memo():
        for _ in range(2):
            assert blind_index(world.a.pk, PHONE, "098765-43210") == plain["phone"]
            assert blind_index_of_normalised(world.a.pk, PHONE, phone) == plain["phone"]
            assert blind_index(world.a.pk, EMAIL, " Anjali@Example.IN ") == plain["email"]
            assert [name_tokens(world.a.pk, name) for name in names] == plain["names"]
            # Another workspace in the same block never matches.
            assert blind_index(str(world.b.pk), PHONE, phone) == plain["other"] != plain["phone"]


def test_an_index_of_a_normalised_value_refuses_a_phone_that_was_not_normalised(world):
    for memo in (nullcontext(), blind_index_memo()):
        with memo:
            for raw in ("98765 43210", "098765-43210", "919876543210", ""):
                with pytest.raises(BlindIndexValueError):
                    blind_index_of_normalised(world.a.pk, PHONE, raw)
            with pytest.raises(BlindIndexValueError):
                blind_index(world.a.pk, PHONE, "12345")
            with pytest.raises(ValueError, match="unknown blind index kind"):
                blind_index_of_normalised(world.a.pk, "city", "Pune")
