"""Plain numbers as written, and the one rule for when two numeric values are the same answer.

The rule (used by the plain-number path and, in the helper process, by the sympy path):
- Integers, fractions and decimals are exact values, and two exact values are equal only when they
  are equal: 1450001 != 1450000, 123456789 != 123456790, 0.5 == 1/2, 1.5\\times 10^3 == 1500.
- A decimal written as the whole answer with at least MIN_SIGNIFICANT significant digits also
  matches a value it correctly rounds, to the decimal places it shows: 0.333333 == 1/3,
  1.414214 == \\sqrt{2}. Fewer digits is an approximation, not the answer (0.33 != 1/3, 3.14 != \\pi),
  and a truncation is not a rounding (0.666666 != 2/3).
"""

import re
from dataclasses import dataclass
from fractions import Fraction

MIN_SIGNIFICANT = 6  # as math-verify's default float_rounding=6: 0.333333 stands for 1/3

_DECIMAL = re.compile(r"-?(?:\d+(?:\.(\d+))?|\.(\d+))")
_SLASH = re.compile(r"(-?\d+)/(\d+)")
_FRAC_ARG = r"\s*(?:\{\s*(-?\d+(?:\.\d+)?)\s*\}|(\d))"  # {12} or a single digit: \frac12
_FRAC = re.compile(r"(-?)\\frac" + _FRAC_ARG + _FRAC_ARG)


@dataclass(frozen=True)
class Number:
    value: Fraction  # exact value of what is written
    places: int | None = None  # digits after the point when written as a decimal ("0.50" -> 2)

    @property
    def rounds(self) -> bool:
        """Shows enough digits to stand for a value it rounds (see the module docstring)."""
        return self.places is not None and significant_digits(self) >= MIN_SIGNIFICANT


def parse_number(s: str) -> Number | None:
    """A plain number: "1000", "-0.5", ".5", "3/4", "\\frac{1}{2}", "\\frac12"; None for anything else."""
    s = s.replace(" ", "")
    try:
        if match := _DECIMAL.fullmatch(s):
            fraction_digits = match.group(1) or match.group(2)
            return Number(Fraction(s), len(fraction_digits) if fraction_digits else None)
        if match := _SLASH.fullmatch(s):
            return Number(Fraction(int(match.group(1)), int(match.group(2))))
        if match := _FRAC.fullmatch(s):
            sign = -1 if match.group(1) else 1
            num, den = match.group(2) or match.group(3), match.group(4) or match.group(5)
            return Number(sign * Fraction(num) / Fraction(den))
    except ZeroDivisionError:
        return None
    return None


def significant_digits(number: Number) -> int:
    """Digits a decimal shows from its first non-zero one ("0.333333" -> 6, "0.0010" -> 2); 0 if no decimal."""
    if number.places is None:
        return 0
    return len(str(int(abs(number.value) * 10**number.places)).lstrip("0"))


def rounds_to(decimal: Number, value: Fraction) -> bool:
    """True if `decimal` shows enough digits and is `value` rounded (half away from zero) to its places."""
    if not decimal.rounds:
        return False
    scale = 10**decimal.places
    scaled = abs(value) * scale
    rounded = int(scaled + Fraction(1, 2))  # floor(x + 1/2): half away from zero for the magnitude
    return Fraction(rounded if value >= 0 else -rounded, scale) == decimal.value


def same_value(x: Number, y: Number) -> bool:
    """The rule above for two plain numbers."""
    return x.value == y.value or rounds_to(x, y.value) or rounds_to(y, x.value)
