"""Opt-out and re-subscribe keywords: normalisation and the matcher (the word lists are in
``keyword_words``).

The matcher is a pure function of a message and a keyword table (the built-in lists plus a
workspace's own keywords); ``keywords`` keeps the table per workspace, and inbound
processing acts on the verdict.
It decides on the **whole message**: a keyword inside a sentence is never a request, so
"don't stop the delivery", "stop by the shop tomorrow" and "kab band hota hai" do nothing.
What it tolerates around a keyword is a closed list of words, never free text:

- **Normalisation.** Unicode compatibility form, case, punctuation, symbols and emoji
  (category S), spacing; invisible format characters (zero-width joiners) are dropped.
  So "STOP 🙏", "Stop!!!" and full-width STOP are "stop". A message that is only emoji ("🛑",
  "🙏", "👎") is a reaction, not a request: nothing.
- **Fillers** at either end, in any number: politeness (please, plz, kindly, sir, ji, bhai,
  kripya, कृपया, जी, thanks, ok, hi …), time (now, abhi, अभी, ab, aage se …), pronouns and
  objects (me, mujhe, मुझे, msg, messages, sms, मैसेज, ye, sab, koi …) and "again" words
  (fir se, wapas, dobara, फिर से, वापस). "mujhe message mat bhejo please" is "mat bhejo".
- **Verb tails** after a keyword: karo, kar do, kardo, kar dijiye, karein, kijiye, karna,
  करो, कर दो, कर दीजिए, करें, कीजिए, करना … So "STOP kar do", "unsubscribe कर दीजिए",
  "start karo". Hindi verb **stems** (band, बंद, rok, रोक; shuru, chalu, शुरू, चालू) count
  only with a tail: "band" or "chalu" alone is as often about a closed shop or a running
  offer as about messages.
- **Repeated Latin letters**: every run of one repeated letter a to z is shortened to one on
  both sides before comparing, so "stooop", "stopppp", "pleaseee" and "chaalu" match and
  legitimate doubles ("message", "kar dijiye") still do. Devanagari is compared as written.
- **Misspellings**: a short list (``MISSPELLINGS``) such as stp, stpo, unsubcribe,
  unsubscibe, unsub, bandh, bnd, बन्द, रोके, शुरु; each stands for one keyword.

Decisions on ambiguous words:

- "cancel", "end", "quit" and "resume" are keywords only as the entire message (after
  normalisation and letter runs): no filler, no tail. "cancel my order", "end of month
  offer?", "quit smoking tips", "cancel karo" and "resume bhej raha hu" do nothing.
- Negations and question words are never fillers ("mat", "na", "not", "don't", "nahi",
  "kya", "kab", "hai"), so "band mat karo", "stop mat karo", "please don't stop",
  "chalu hai?" and "band hai kya" do nothing. "na" is accepted only as part of a tail
  ("kar do na"), where it softens a request, never before the keyword, where it negates it.
- "nahi chahiye" (don't want) is a keyword only with its object ("message nahi chahiye"):
  alone it usually turns down an offer.
- "stpo" and "sotp" are accepted: no other reading exists for them as a whole message.
- When one message could be read both ways (a workspace keyword can overlap a filler),
  opting out wins.

Bounds: a raw message over ``MESSAGE_MAX_CHARS`` or a normalised one over
``NORMALISED_MAX_CHARS`` is never a keyword message, and the matcher looks at spans no
longer than the longest keyword plus the longest tail, so the work per message is small
and fixed (no regular expressions).

A verdict names the keyword in its table form and the rule that matched ("exact", or the
tolerances used: "filler", "letters", "spelling", "tail", joined with "+"). Neither ever
carries text from the message beyond table entries, so both may go into the ledger and
the audit log.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from heroshhi.messaging.keyword_words import (
    DEFAULT_OPTIN_KEYWORDS,
    DEFAULT_OPTOUT_KEYWORDS,
    FILLERS,
    MISSPELLINGS,
    OPTIN_STEMS,
    OPTOUT_STEMS,
    VERB_TAILS,
    WHOLE_MESSAGE_ONLY,
)

Action = Literal["opt_out", "opt_in"]

MESSAGE_MAX_CHARS = 200
NORMALISED_MAX_CHARS = 80


@dataclass(frozen=True, slots=True)
class KeywordMatch:
    action: Action
    # The keyword in its table form ("stop", "band kar do"), never text from the message.
    keyword: str
    # "exact", or the tolerances used: "filler", "letters", "spelling", "tail" joined by "+".
    rule: str


def normalise_message(text: str) -> str:
    """Compatibility form, case-folded, punctuation and symbols as spaces, spaces collapsed.

    Combining marks stay (Devanagari vowel signs are marks); invisible format characters
    such as zero-width joiners are dropped rather than turned into word breaks.
    """
    folded = unicodedata.normalize("NFKC", str(text)).casefold()
    kept: list[str] = []
    for ch in folded:
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category[0] in {"P", "S", "Z", "C"} else ch)
    return " ".join("".join(kept).split())


def _skeleton(word: str) -> str:
    """The word with each run of one repeated Latin letter cut to one: stooop → stop."""
    out: list[str] = []
    for ch in word:
        if out and ch == out[-1] and "a" <= ch <= "z":
            continue
        out.append(ch)
    return "".join(out)


Key = tuple[str, ...]


def _key(words: Sequence[str]) -> Key:
    return tuple(_skeleton(word) for word in words)


@dataclass(frozen=True, slots=True)
class _Entry:
    action: Action
    keyword: str  # what a match reports
    spelled: tuple[str, ...]  # the words as listed, to tell "exact" from "letters"
    misspelling: bool = False
    whole_message_only: bool = False
    needs_tail: bool = False


@dataclass(frozen=True, slots=True)
class _Tail:
    text: str
    spelled: tuple[str, ...]


def _add(
    phrases: dict[Key, _Entry],
    action: Action,
    keyword: str,
    *,
    whole_message_only: bool = False,
    needs_tail: bool = False,
) -> None:
    words = tuple(normalise_message(keyword).split())
    if not words:
        return
    phrases.setdefault(
        _key(words),
        _Entry(
            action=action,
            keyword=" ".join(words),
            spelled=words,
            whole_message_only=whole_message_only,
            needs_tail=needs_tail,
        ),
    )


def _verdict(
    entry: _Entry,
    tail: _Tail | None,
    head: Sequence[str],
    rest: Sequence[str],
    *,
    stripped: bool,
) -> KeywordMatch:
    used: set[str] = set()
    if stripped:
        used.add("filler")
    if entry.misspelling:
        used.add("spelling")
    if tuple(head) != entry.spelled or (tail is not None and tuple(rest) != tail.spelled):
        used.add("letters")
    keyword = entry.keyword
    if tail is not None:
        used.add("tail")
        keyword = f"{keyword} {tail.text}"
    return KeywordMatch(
        action=entry.action, keyword=keyword, rule="+".join(sorted(used)) or "exact"
    )


def _words_of(values: Iterable[str]) -> list[tuple[str, ...]]:
    return [tuple(normalise_message(value).split()) for value in values]


_FILLER_KEYS: frozenset[Key] = frozenset(_key(words) for words in _words_of(FILLERS))
_TAILS: dict[Key, _Tail] = {
    _key(words): _Tail(text=" ".join(words), spelled=words) for words in _words_of(VERB_TAILS)
}
_LONGEST_FILLER = max(map(len, _FILLER_KEYS))
_TABLE_WORDS = frozenset(word for key in (*_FILLER_KEYS, *_TAILS) for word in key)
_LONGEST_TAIL = max(map(len, _TAILS))


class KeywordTable:
    """Keywords, tails and fillers keyed by their letter-run skeletons, ready to match."""

    __slots__ = ("_first_words", "_longest_span", "_phrases", "_vocabulary")

    def __init__(self, phrases: dict[Key, _Entry]) -> None:
        self._phrases = phrases
        # Most spans of a message start with a word no keyword starts with: skip them early.
        self._first_words = frozenset(key[0] for key in phrases)
        self._longest_span = max(map(len, phrases)) + _LONGEST_TAIL
        # Every word of a keyword message is a keyword's, a tail's or a filler's, so one
        # word from outside them all settles an ordinary message at once.
        self._vocabulary = frozenset(word for key in phrases for word in key) | _TABLE_WORDS

    @classmethod
    def built_in(cls) -> KeywordTable:
        phrases: dict[Key, _Entry] = {}
        lists: tuple[tuple[Action, Iterable[str], Iterable[str]], ...] = (
            ("opt_out", DEFAULT_OPTOUT_KEYWORDS, OPTOUT_STEMS),
            ("opt_in", DEFAULT_OPTIN_KEYWORDS, OPTIN_STEMS),
        )
        for action, keywords, stems in lists:
            for keyword in keywords:
                _add(phrases, action, keyword, whole_message_only=keyword in WHOLE_MESSAGE_ONLY)
            for stem in stems:
                _add(phrases, action, stem, needs_tail=True)
        for variant, meant in MISSPELLINGS.items():
            target = phrases[_key(normalise_message(meant).split())]
            phrases.setdefault(
                _key(normalise_message(variant).split()),
                _Entry(
                    action=target.action,
                    keyword=target.keyword,
                    spelled=tuple(normalise_message(variant).split()),
                    misspelling=True,
                    whole_message_only=target.whole_message_only,
                    needs_tail=target.needs_tail,
                ),
            )
        return cls(phrases)

    def with_extras(self, *, optout: Iterable[str], optin: Iterable[str]) -> KeywordTable:
        """This table plus a workspace's own keywords; a built-in entry is never replaced."""
        phrases = dict(self._phrases)
        for keyword in optout:
            _add(phrases, "opt_out", keyword)
        for keyword in optin:
            _add(phrases, "opt_in", keyword)
        return KeywordTable(phrases)

    def actions_of(self, keyword: str) -> set[Action]:
        """Which action a keyword written alone would take under this table."""
        entry = self._phrases.get(_key(normalise_message(keyword).split()))
        return {entry.action} if entry is not None and not entry.needs_tail else set()

    def match(self, text: str | None) -> KeywordMatch | None:
        if not text or len(text) > MESSAGE_MAX_CHARS:
            return None
        normalised = normalise_message(text)
        if not normalised or len(normalised) > NORMALISED_MAX_CHARS:
            return None
        words = normalised.split()
        keys = _key(words)
        if not self._vocabulary.issuperset(keys) or self._first_words.isdisjoint(keys):
            return None
        count = len(keys)
        # from_start[i]: words[:i] are all fillers; to_end[j]: words[j:] are all fillers.
        from_start, to_end = _filler_edges(keys)
        opt_in: KeywordMatch | None = None
        # Longest span first, so a keyword that contains a filler word ("stop all",
        # "message mat bhejo") is read whole before the filler is stripped from it.
        for length in range(min(count, self._longest_span), 0, -1):
            for start in range(count - length + 1):
                end = start + length
                if not (from_start[start] and to_end[end] and keys[start] in self._first_words):
                    continue
                found = self._span(words, keys, start, end, whole=length == count)
                if found is None:
                    continue
                if found.action == "opt_out":
                    return found
                opt_in = opt_in or found
        return opt_in

    def _span(
        self, words: Sequence[str], keys: Key, start: int, end: int, *, whole: bool
    ) -> KeywordMatch | None:
        entry = self._phrases.get(keys[start:end])
        if entry is not None and not entry.needs_tail and (whole or not entry.whole_message_only):
            return _verdict(entry, None, words[start:end], (), stripped=not whole)
        for size in range(1, min(_LONGEST_TAIL, end - start - 1) + 1):
            tail = _TAILS.get(keys[end - size : end])
            if tail is None:
                continue
            entry = self._phrases.get(keys[start : end - size])
            if entry is not None and not entry.whole_message_only:
                head, rest = words[start : end - size], words[end - size : end]
                return _verdict(entry, tail, head, rest, stripped=not whole)
        return None


def _filler_edges(keys: Key) -> tuple[list[bool], list[bool]]:
    """Where a keyword may start (everything before it is fillers) and end (everything
    after it is)."""
    count = len(keys)
    from_start = [False] * (count + 1)
    from_start[0] = True
    for at in range(count):
        if not from_start[at]:
            continue
        for size in range(1, min(_LONGEST_FILLER, count - at) + 1):
            if keys[at : at + size] in _FILLER_KEYS:
                from_start[at + size] = True
    to_end = [False] * (count + 1)
    to_end[count] = True
    for at in range(count, 0, -1):
        if not to_end[at]:
            continue
        for size in range(1, min(_LONGEST_FILLER, at) + 1):
            if keys[at - size : at] in _FILLER_KEYS:
                to_end[at - size] = True
    return from_start, to_end


BUILT_IN = KeywordTable.built_in()


def keyword_table(
    *, extra_optout: Iterable[str] = (), extra_optin: Iterable[str] = ()
) -> KeywordTable:
    """The built-in table, extended with a workspace's own keywords when it has some."""
    extra_optout, extra_optin = list(extra_optout), list(extra_optin)
    if not extra_optout and not extra_optin:
        return BUILT_IN
    return BUILT_IN.with_extras(optout=extra_optout, optin=extra_optin)


def match_message(
    text: str | None, *, extra_optout: Iterable[str] = (), extra_optin: Iterable[str] = ()
) -> KeywordMatch | None:
    """The verdict on a whole message under the built-in and the given extra keywords."""
    return keyword_table(extra_optout=extra_optout, extra_optin=extra_optin).match(text)
