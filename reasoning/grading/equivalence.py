"""Decide whether two answer strings mean the same thing.

Cheapest first: normalised strings, then plain numbers (exact fractions), then tuples / intervals /
sets element by element, and only then sympy in the helper process with a hard time limit. Most
GSM8K answers are settled by the first two steps and never touch the helper process.
"""

import logging
import re
import time
from dataclasses import dataclass
from fractions import Fraction

from reasoning.grading import worker
from reasoning.grading.normalize import normalize

log = logging.getLogger(__name__)

REL_TOL = 1e-6  # relative tolerance for numeric equality ("0.333333" vs "1/3" is equal, "0.33" is not)

_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)")
_SLASH = re.compile(r"(-?\d+)/(\d+)")
_FRAC_ARG = r"\s*(?:\{\s*(-?\d+(?:\.\d+)?)\s*\}|(\d))"  # {12} or a single digit: \frac12
_FRAC = re.compile(r"(-?)\\frac" + _FRAC_ARG + _FRAC_ARG)
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


def to_number(s: str) -> Fraction | None:
    """Exact value of a plain number: "1000", "-0.5", "3/4", "\\frac{1}{2}", "\\frac12"; else None."""
    s = s.replace(" ", "")
    try:
        if _DECIMAL.fullmatch(s):
            return Fraction(s)
        if match := _SLASH.fullmatch(s):
            return Fraction(int(match.group(1)), int(match.group(2)))
        if match := _FRAC.fullmatch(s):
            sign = -1 if match.group(1) else 1
            num, den = match.group(2) or match.group(3), match.group(4) or match.group(5)
            return sign * Fraction(num) / Fraction(den)
    except ZeroDivisionError:
        return None
    return None


def _compare(a: str, b: str, a_pct: bool, b_pct: bool, deadline: float) -> Verdict:
    if not a or not b:
        return Verdict(False)
    if _squash(a) == _squash(b):
        return Verdict(True)
    x, y = to_number(a), to_number(b)
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
        return Verdict(worker.call_with_timeout(symbolic_equal, (a, b, REL_TOL), remaining))
    except worker.Timeout:
        return Verdict(False, timed_out=True)
    except worker.CallError as error:  # sympy failed on this input: not provably equal
        log.debug("symbolic check of %r vs %r failed: %s", a, b, error)
        return Verdict(False)


def _squash(s: str) -> str:
    return "".join(s.split()).lower()


def _is_simple(s: str, number: Fraction | None) -> bool:
    return number is not None or bool(_PLAIN_TEXT.fullmatch(s))


def _numbers_equal(x: Fraction, y: Fraction, x_pct: bool, y_pct: bool) -> bool:
    candidates = [(x, y)]
    if x_pct:  # "50%" may also stand for 0.5
        candidates.append((x / 100, y))
    if y_pct:
        candidates.append((x, y / 100))
    return any(abs(p - q) <= REL_TOL * max(abs(p), abs(q)) for p, q in candidates)


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
