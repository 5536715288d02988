"""Decide whether two answer strings mean the same thing.

Cheapest first: normalised strings, then plain numbers (exact, by numbers.py's rule), then tuples / intervals /
sets element by element, and only then sympy in the helper process with a hard time limit. Most
GSM8K answers are settled by the first two steps and never touch the helper process.
"""

import logging
import re
import time
from dataclasses import dataclass

from reasoning.grading import worker
from reasoning.grading.normalize import normalize
from reasoning.grading.numbers import Number, parse_number, same_value

log = logging.getLogger(__name__)

_PLAIN_TEXT = re.compile(r"[A-Za-z][A-Za-z '\-]*")
_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Verdict:
    equal: bool
    timed_out: bool = False


def is_equivalent(pred: str, gold: str, timeout_seconds: float = 5.0) -> bool:
    """True if pred and gold are the same answer; a timed-out check counts as not equal."""
    return check_equivalence(pred, gold, timeout_seconds).equal


def check_equivalence(pred: str, gold: str, timeout_seconds: float = 5.0) -> Verdict:
    """Like is_equivalent, but also says whether the symbolic check ran out of time."""
    (a, a_pct), (b, b_pct) = normalize(pred), normalize(gold)
    return _compare(a, b, a_pct, b_pct, time.monotonic() + timeout_seconds)


def _compare(a: str, b: str, a_pct: bool, b_pct: bool, deadline: float) -> Verdict:
    if not a or not b:
        return Verdict(False)
    if _squash(a) == _squash(b):
        return Verdict(True)
    x, y = parse_number(a), parse_number(b)
    if x is not None and y is not None:
        return Verdict(_numbers_equal(x, y, a_pct, b_pct))
    seq_a, seq_b = _split_sequence(a), _split_sequence(b)
    if seq_a or seq_b:
        return _compare_sequences(seq_a, seq_b, deadline)
    if _is_simple(a, x) and _is_simple(b, y):  # numbers and words: nothing left for sympy to find
        return Verdict(False)
    return _symbolic(a, b, deadline)


def _symbolic(a: str, b: str, deadline: float) -> Verdict:
    from reasoning.grading.symbolic import symbolic_equal  # only the helper process needs sympy loaded

    remaining = deadline - time.monotonic()
    if remaining <= 0:  # earlier items of a tuple used the budget up; don't kill an idle helper
        return Verdict(False, timed_out=True)
    try:
        return Verdict(worker.call_with_timeout(symbolic_equal, (a, b), remaining))
    except worker.Timeout:
        return Verdict(False, timed_out=True)
    except worker.CallError as error:  # sympy failed on this input: not provably equal
        log.debug("symbolic check of %r vs %r failed: %s", a, b, error)
        return Verdict(False)


def _squash(s: str) -> str:
    return "".join(s.split()).lower()


def _is_simple(s: str, number: Number | None) -> bool:
    return number is not None or bool(_PLAIN_TEXT.fullmatch(s))


def _numbers_equal(x: Number, y: Number, x_pct: bool, y_pct: bool) -> bool:
    if same_value(x, y):  # the percent sign is dropped: "50%" == "50"
        return True
    # "50%" may also stand for the proportion 0.5, but only against a number written as a proportion
    # (a decimal or a fraction): beside a whole number it is the percent figure, so "5000%" != 50.
    if x_pct and not y_pct and _proportion(y):
        return same_value(_per_hundred(x), y)
    if y_pct and not x_pct and _proportion(x):
        return same_value(x, _per_hundred(y))
    return False


def _proportion(number: Number) -> bool:
    return number.places is not None or number.value.denominator != 1


def _per_hundred(number: Number) -> Number:
    return Number(number.value / 100, None if number.places is None else number.places + 2)


@dataclass(frozen=True)
class _Sequence:
    brackets: str  # e.g. "()", "[)", "\\{\\}" or "" for a bare list
    items: list[str]
    ordered: bool


def _split_sequence(s: str) -> _Sequence | None:
    """Split "(1, 2)", "[0, 1)", "\\{1, 2\\}" or "1, 2" into items; None if s is a single item."""
    if s.startswith("\\{") and s.endswith("\\}"):
        items = _top_level_split(s[2:-2])
        return _Sequence("\\{\\}", items, ordered=False) if len(items) > 1 else None
    if len(s) >= 2 and s[0] in "([" and s[-1] in ")]" and _encloses(s):
        items = _top_level_split(s[1:-1])
        return _Sequence(s[0] + s[-1], items, ordered=True) if len(items) > 1 else None
    items = _top_level_split(s)
    return _Sequence("", items, ordered=False) if len(items) > 1 else None  # "1, 2": a list of solutions


def _encloses(s: str) -> bool:
    """True if the first bracket of s closes only at its end ("(1)+(2)" is not enclosed)."""
    depth = 0
    for i, char in enumerate(s):
        depth += (char in _OPEN) - (char in _CLOSE)
        if depth == 0 and i < len(s) - 1:
            return False
    return True


def _top_level_split(s: str) -> list[str]:
    items, depth, current = [], 0, []
    for char in s:
        depth += (char in _OPEN) - (char in _CLOSE)
        if char == "," and depth == 0:
            items.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    items.append("".join(current).strip())
    return items


def _compare_sequences(a: _Sequence | None, b: _Sequence | None, deadline: float) -> Verdict:
    # Open vs closed ends must match for intervals; a tuple never equals a single value.
    if a is None or b is None or a.brackets != b.brackets or len(a.items) != len(b.items):
        return Verdict(False)
    if a.ordered:
        return _all_equal(zip(a.items, b.items), deadline)
    remaining = list(b.items)  # unordered: greedily match each item of a to an unused item of b
    for item in a.items:
        for k, other in enumerate(remaining):
            verdict = _compare(*_pair(item, other), deadline)
            if verdict.timed_out:
                return verdict
            if verdict.equal:
                del remaining[k]
                break
        else:
            return Verdict(False)
    return Verdict(True)


def _all_equal(pairs, deadline: float) -> Verdict:
    for item_a, item_b in pairs:
        verdict = _compare(*_pair(item_a, item_b), deadline)
        if not verdict.equal:
            return verdict
    return Verdict(True)


def _pair(a: str, b: str) -> tuple[str, str, bool, bool]:
    (na, pa), (nb, pb) = normalize(a), normalize(b)
    return na, nb, pa, pb
