"""Turn an answer string into a canonical form before comparing: cheap string work, no sympy.

Decisions (documented here because graders differ on them):
- Percent: "50\\%" and "50" are the same answer (the sign is dropped). The caller is also told a
  percent sign was there, so a plain-number comparison can accept "50\\%" == "0.5" as well (only
  against a decimal or fraction: "5000\\%" is not 50, see equivalence.py).
- Units and money: "$", "\\$", "dollars", "cm", "^\\circ", "\\text{ cm}^2", "km/h", "(dollars)" are
  dropped, but words are only stripped after a plain number ("18 dollars" -> "18"), never from an
  expression.
- Assignments: "x = 5" -> "5" (a single-variable left side only).
- Multiple choice: "(C)" / "\\text{(C)}" -> "C".
"""

import re

_TEXT_COMMANDS = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")
_REPLACEMENTS = (
    ("\\dfrac", "\\frac"), ("\\tfrac", "\\frac"), ("\\displaystyle", ""),
    ("~", " "),
    ("\\$", ""), ("$", ""), ("{,}", ","), ("\u2212", "-"), ("\u00b0", ""), ("\\degree", ""),
)
# Spacing commands (\, \! \; \: and backslash-space), but not a "\\" row break followed by one.
_SPACING = re.compile(r"(?<!\\)\\[,;:! ]")
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?![A-Za-z])")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ")
_PERCENT = re.compile(r"\\?%")
_BARE_PI = re.compile(r"(?<![\\A-Za-z])pi(?![A-Za-z])")
_ASSIGNMENT = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?=[^=]+$)")
_CHOICE = re.compile(r"^\(([A-Ea-e])\)$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
# A plain number followed only by words (and maybe a ^2 for areas): the words are a unit, also
# "km/h", "/hour" and "(dollars)".
_UNIT = r"[A-Za-z]{2,}\.?(?:\s*/\s*[A-Za-z]+\.?)*"
_NUMBER_THEN_WORDS = re.compile(
    rf"^(-?[\d.,/]*\d)\s*(\(?(?:/\s*)?{_UNIT}(?:\s+{_UNIT})*\)?)\s*(?:\^\{{?[23]\}}?)?$")
_UNIT_WORD = re.compile(r"[A-Za-z]+")
_NOT_UNITS = {"pi", "sqrt", "frac", "and", "or"}


def normalize(answer: str) -> tuple[str, bool]:
    """Return (canonical answer, whether it carried a percent sign)."""
    s = answer.strip()
    while _TEXT_COMMANDS.search(s):
        s = _TEXT_COMMANDS.sub(r"\1", s)
    for old, new in _REPLACEMENTS:
        s = s.replace(old, new)
    s = _SPACING.sub(lambda m: " " if m.group(0) == "\\ " else "", s)  # "1,\!000" must stay one number
    s = _LEFT_RIGHT.sub("", s)
    s = _DEGREES.sub("", s)
    had_percent = bool(_PERCENT.search(s))
    s = _PERCENT.sub("", s)
    s = _BARE_PI.sub(r"\\pi", s)
    s = " ".join(s.split()).strip().rstrip(".").strip()
    s = _ASSIGNMENT.sub("", s)
    s = _strip_units(s)
    s = _CHOICE.sub(r"\1", s)
    if _THOUSANDS.match(s):
        s = s.replace(",", "")
    return s, had_percent


def _strip_units(s: str) -> str:
    match = _NUMBER_THEN_WORDS.match(s)
    if match and not {w.lower() for w in _UNIT_WORD.findall(match.group(2))} & _NOT_UNITS:
        return match.group(1)
    return s
