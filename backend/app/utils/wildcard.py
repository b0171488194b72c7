"""Better-Auth's glob matcher (``utils/wildcard.ts``, the vendored wildcard-match with ``/`` as
the separator), without backtracking.

Better-Auth turns a pattern into a regular expression: ``*`` is ``[^/\\]*?``, ``?`` is
``[^/\\]``, a ``/`` between segments is ``[/\\]+?`` (``[/\\]*?`` after the last one), a ``**``
segment is ``(?:[^/\\]*?[/\\]+?)*?``, ``\\`` escapes the next character, and the whole is anchored.
A backtracking engine (JavaScript's, Python's ``re``) takes time polynomial in the input, of a
degree that grows with the number of ``*``: ``https://*.*.*.example.com`` against an origin of
2,000 characters costs seconds.

The same expression is compiled here into a small automaton (one state per pattern element)
and run as a DFA built lazily from it: every character of the input is one transition, looked
up in a table after its first use, so a match costs time linear in the input whatever the
pattern. Laziness (``*?``) never changes *whether* an anchored expression matches, only which
way, so the answer is the regular expression's.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Final

_SEPARATORS: Final = frozenset("/\\")
# Beyond this many cached transitions, new ones are computed each time instead of stored (the
# cost per character stays linear in the pattern; only memory is bounded).
_MAX_TRANSITIONS: Final = 4096

# What one step of the automaton may consume.
Predicate = Callable[[str], bool]


def _literal(char: str) -> Predicate:
    return lambda candidate: candidate == char


def _not_separator(candidate: str) -> bool:
    return candidate not in _SEPARATORS


def _separator(candidate: str) -> bool:
    return candidate in _SEPARATORS


def _anything(candidate: str) -> bool:
    return True


class _Automaton:
    """An NFA under construction: ``edges[s]`` consume a character, ``jumps[s]`` do not."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[Predicate, int]]] = [[]]
        self.jumps: list[list[int]] = [[]]

    @property
    def last(self) -> int:
        return len(self.edges) - 1

    def new_state(self) -> int:
        self.edges.append([])
        self.jumps.append([])
        return self.last

    def one(self, predicate: Predicate) -> None:
        """Exactly one character that satisfies ``predicate``."""
        start = self.last
        self.edges[start].append((predicate, self.new_state()))

    def any_number(self, predicate: Predicate) -> None:
        """Zero or more such characters (a loop on the current state, then move on)."""
        start = self.last
        self.edges[start].append((predicate, start))
        self.jumps[start].append(self.new_state())

    def separators(self, *, required: bool) -> None:
        """``[/\\]+`` or ``[/\\]*``."""
        if required:
            self.one(_separator)
        self.any_number(_separator)

    def globstar(self, *, separator_required: bool) -> None:
        """``(?:[^/\\]*[/\\]+)*``: nothing, or anything that ends with a separator; with the
        optional separator (``(?:[^/\\]*[/\\]*)*``), anything at all."""
        if not separator_required:
            self.any_number(_anything)
            return
        after_separator = self.last  # may leave from here
        inside = self.new_state()  # read a non-separator since the last separator
        for state in (after_separator, inside):
            self.edges[state].append((_separator, after_separator))
            self.edges[state].append((_not_separator, inside))
        self.jumps[after_separator].append(self.new_state())


def _compile(pattern: str) -> _Automaton:
    """``transform(pattern, true)`` of wildcard-match, element by element."""
    automaton = _Automaton()
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        if not segment and index > 0:
            continue
        is_last = index == len(segments) - 1
        next_segment = None if is_last else segments[index + 1]
        # None: no separator after this segment (the next one is "**" and brings its own).
        required: bool | None = False if is_last else (True if next_segment != "**" else None)
        if segment == "**":
            if required is not None:
                if index > 0:
                    automaton.separators(required=required)
                automaton.globstar(separator_required=required)
            continue
        position = 0
        while position < len(segment):
            char = segment[position]
            if char == "\\":
                if position < len(segment) - 1:  # a trailing backslash is dropped
                    position += 1
                    automaton.one(_literal(segment[position]))
            elif char == "?":
                automaton.one(_not_separator)
            elif char == "*":
                automaton.any_number(_not_separator)
            else:
                automaton.one(_literal(char))
            position += 1
        if required is not None:
            automaton.separators(required=required)
    return automaton


class WildcardMatcher:
    """``wildcardMatch(pattern)`` of Better-Auth: ``matches(text)`` in time linear in ``text``."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        automaton = _compile(pattern)
        self._edges = automaton.edges
        self._closures = [
            self._closure_of(automaton.jumps, state) for state in range(len(automaton.edges))
        ]
        self._accept = automaton.last
        self._start = self._closures[0]
        self._transitions: dict[tuple[frozenset[int], str], frozenset[int]] = {}

    @staticmethod
    def _closure_of(jumps: list[list[int]], state: int) -> frozenset[int]:
        seen = {state}
        pending = [state]
        while pending:
            for target in jumps[pending.pop()]:
                if target not in seen:
                    seen.add(target)
                    pending.append(target)
        return frozenset(seen)

    def matches(self, text: str) -> bool:
        return self.run(text)[0]

    def run(self, text: str) -> tuple[bool, int]:
        """Whether ``text`` matches, and the transitions taken (at most one per character)."""
        states = self._start
        transitions = self._transitions
        steps = 0
        for char in text:
            key = (states, char)
            following = transitions.get(key)
            if following is None:
                following = self._step(states, char)
                if len(transitions) < _MAX_TRANSITIONS:
                    transitions[key] = following
            states = following
            steps += 1
            if not states:
                return False, steps
        return self._accept in states, steps

    def _step(self, states: frozenset[int], char: str) -> frozenset[int]:
        following: set[int] = set()
        for state in states:
            for predicate, target in self._edges[state]:
                if predicate(char):
                    following |= self._closures[target]
        return frozenset(following)


@lru_cache(maxsize=256)
def wildcard(pattern: str) -> WildcardMatcher:
    """The matcher of a pattern (patterns come from the settings: a handful, compiled once)."""
    return WildcardMatcher(pattern)
