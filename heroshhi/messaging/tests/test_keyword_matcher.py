"""The keyword matcher on its own: a corpus of messages as people write them, the rules it
reports, workspace keywords, and properties that hold for any text."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heroshhi.messaging.keyword_matcher import (
    BUILT_IN,
    MESSAGE_MAX_CHARS,
    NORMALISED_MAX_CHARS,
    match_message,
    normalise_message,
)
from heroshhi.messaging.keyword_words import (
    DEFAULT_OPTIN_KEYWORDS,
    DEFAULT_OPTOUT_KEYWORDS,
    FILLERS,
    MISSPELLINGS,
    OPTIN_STEMS,
    OPTOUT_STEMS,
    VERB_TAILS,
)

CORPUS = Path(__file__).parent / "data" / "optout_corpus.tsv"
VERDICTS = {"opt_out", "opt_in", "none"}


class Row(NamedTuple):
    line: int
    message: str
    expected: str
    note: str


def _corpus() -> list[Row]:
    with CORPUS.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        assert next(reader) == ["message", "expected", "note"]
        return [Row(reader.line_num, *fields) for fields in reader]


ROWS = _corpus()


@pytest.mark.parametrize("row", ROWS, ids=[f"line{row.line}-{row.note}" for row in ROWS])
def test_every_corpus_message_gets_its_expected_verdict(row: Row) -> None:
    match = match_message(row.message)
    got = match.action if match else "none"
    assert got == row.expected, f"line {row.line} {row.message!r} ({row.note}): {match}"


def test_the_corpus_covers_each_verdict_and_is_well_formed() -> None:
    verdicts = [row.expected for row in ROWS]
    assert set(verdicts) <= VERDICTS
    assert len(ROWS) >= 150
    assert verdicts.count("none") >= 40
    assert verdicts.count("opt_in") >= 20
    messages = [row.message for row in ROWS]
    assert len(messages) == len(set(messages)), "a message is listed twice"
    devanagari_opt_in = [
        row
        for row in ROWS
        if row.expected == "opt_in" and any("\u0900" <= c <= "\u097f" for c in row.message)
    ]
    assert len(devanagari_opt_in) >= 5


@pytest.mark.parametrize(
    ("text", "keyword", "rule"),
    [
        ("STOP!", "stop", "exact"),
        ("band karo", "band karo", "exact"),
        ("stooop", "stop", "letters"),
        ("plz stp", "stop", "filler+spelling"),
        ("STOP kar do", "stop kar do", "tail"),
        ("kripya band karein", "band karein", "filler+tail"),
        ("बन्द करो", "बंद करो", "spelling+tail"),
        ("mujhe message mat bhejo please", "message mat bhejo", "filler"),
        ("फिर से चालू करो", "चालू करो", "filler"),
    ],
)
def test_a_verdict_names_the_keyword_in_its_table_form_and_the_rule(
    text: str, keyword: str, rule: str
) -> None:
    match = match_message(text)
    assert match is not None
    assert (match.keyword, match.rule) == (keyword, rule)


def test_every_built_in_keyword_and_misspelling_keeps_its_own_action() -> None:
    # Letter-run folding must not make one list's word read as the other list's.
    for keyword in DEFAULT_OPTOUT_KEYWORDS:
        assert BUILT_IN.actions_of(keyword) == {"opt_out"}, keyword
    for keyword in DEFAULT_OPTIN_KEYWORDS:
        assert BUILT_IN.actions_of(keyword) == {"opt_in"}, keyword
    for variant, meant in MISSPELLINGS.items():
        meant_match = match_message(f"{meant} karo")
        variant_match = match_message(f"{variant} karo")
        assert meant_match is not None
        assert variant_match is not None
        assert (variant_match.action, variant_match.keyword) == (
            meant_match.action,
            meant_match.keyword,
        ), variant


def test_fillers_and_tails_are_never_keywords_on_their_own() -> None:
    for word in (*FILLERS, *VERB_TAILS, *OPTOUT_STEMS, *OPTIN_STEMS):
        assert match_message(word) is None, word


# Workspace keywords ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["bas", "Bas!", "bas karo", "plz bas kar do", "kripya bas kijiye", "bas karo na ji"]
)
def test_a_workspace_opt_out_keyword_gets_the_same_tolerance(text: str) -> None:
    match = match_message(text, extra_optout=["bas"])
    assert match is not None
    assert match.action == "opt_out"
    assert match.keyword.startswith("bas")


@pytest.mark.parametrize("text", ["haan ji", "Haan ji please", "haan ji, thanks 🙏"])
def test_a_workspace_opt_in_keyword_gets_the_same_tolerance(text: str) -> None:
    match = match_message(text, extra_optin=["Haan Ji"])
    assert match is not None
    assert (match.action, match.keyword) == ("opt_in", "haan ji")


def test_workspace_keywords_stay_whole_message_and_never_replace_a_built_in() -> None:
    assert match_message("bas karo yaar, kal baat karte hain", extra_optout=["bas"]) is None
    assert match_message("bas", extra_optout=()) is None
    # A workspace's opt-in word that is a built-in opt-out keyword does not turn STOP around.
    assert match_message("stop", extra_optin=["stop"]).action == "opt_out"  # type: ignore[union-attr]


# Any text -----------------------------------------------------------------------------------


@given(st.text(max_size=400))
def test_any_text_gets_a_verdict_or_none_without_raising(text: str) -> None:
    match = match_message(text, extra_optout=["bas"], extra_optin=["haan ji"])
    if match is not None:
        assert match.action in {"opt_out", "opt_in"}


@given(st.text(min_size=MESSAGE_MAX_CHARS + 1, max_size=MESSAGE_MAX_CHARS + 200))
def test_text_longer_than_the_bound_never_matches(text: str) -> None:
    assert match_message(text) is None


@given(st.lists(st.sampled_from(["please", "plz", "ji", "ok", "मुझे", "msg"]), min_size=1))
def test_a_keyword_padded_past_the_normalised_bound_never_matches(padding: list[str]) -> None:
    text = " ".join(padding) + " stop"
    match = match_message(text)
    if len(normalise_message(text)) > NORMALISED_MAX_CHARS:
        assert match is None
    else:
        assert match is not None


_TABLE_WORDS = frozenset(
    word
    for phrase in (
        *DEFAULT_OPTOUT_KEYWORDS,
        *DEFAULT_OPTIN_KEYWORDS,
        *OPTOUT_STEMS,
        *OPTIN_STEMS,
        *VERB_TAILS,
        *MISSPELLINGS.values(),
    )
    for word in normalise_message(phrase).split()
)


@given(
    st.lists(
        st.one_of(
            st.sampled_from(sorted(_TABLE_WORDS | {normalise_message(f) for f in FILLERS})),
            st.text(alphabet="abcdefghijklmnopqrstuvwxyzबंदकरो", min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_verdict_carries_only_table_words_never_the_message(words: list[str]) -> None:
    match = match_message(" ".join(words))
    if match is not None:
        assert set(match.keyword.split()) <= _TABLE_WORDS
        assert set(match.rule.split("+")) <= {"exact", "filler", "letters", "spelling", "tail"}
