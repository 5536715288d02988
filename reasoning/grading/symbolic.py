"""sympy equality of two normalised LaTeX answers. Runs inside the helper process (worker.py): any of
this may hang on a pathological input, so never call it on the caller's thread without a time bound.

Numbers follow the rule of numbers.py: decimals are read as the exact values they write, so rational
values (integers above all) compare exactly; a decimal that is the whole answer may also stand for a
value it rounds; two irrational exact forms (\\log_2 8 and 3, \\sqrt{12} and 2\\sqrt{3}) are compared
at DIGITS digits.
"""

import logging
from fractions import Fraction

import sympy
from latex2sympy2_extended import NormalizationConfig, latex2sympy

from reasoning.grading.numbers import Number, parse_number, rounds_to

# latex2sympy2_extended is math-verify's well-kept LaTeX parser (an ANTLR grammar, no eval of input).
_NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="none", equations=False
)
logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)

DIGITS = 60  # precision of numeric evaluation
_IRRATIONAL_TOL = Fraction(1, 10**40)  # relative: "equal to 40 digits" for two exact irrational forms


def symbolic_equal(a: str, b: str) -> bool:
    """True when a and b parse to the same value, set, interval or equation."""
    x, y = _parse(a), _parse(b)
    if x is None or y is None:
        return False
    if x == y:
        return True
    if isinstance(x, sympy.Set) or isinstance(y, sympy.Set):
        both_sets = isinstance(x, sympy.Set) and isinstance(y, sympy.Set)
        return both_sets and x.symmetric_difference(y) == sympy.S.EmptySet
    if isinstance(x, sympy.Equality) and isinstance(y, sympy.Equality):
        # "y = 2x + 3" vs "2x - y = -3": same equation if the differences agree up to sign.
        dx, dy = x.lhs - x.rhs, y.lhs - y.rhs
        return _expr_equal(dx, dy) or _expr_equal(dx, -dy)
    if isinstance(x, sympy.MatrixBase) and isinstance(y, sympy.MatrixBase):
        return x.shape == y.shape and all(_expr_equal(p, q) for p, q in zip(x, y))
    if isinstance(x, sympy.Expr) and isinstance(y, sympy.Expr):
        return _expr_equal(x, y, parse_number(a), parse_number(b))
    return False


def _parse(text: str):
    try:
        return latex2sympy(text, normalization_config=_NORMALIZATION)
    except Exception:  # the parser raises many types on malformed LaTeX; unparsable is "not equal"
        return None


def _expr_equal(x: sympy.Expr, y: sympy.Expr, x_plain: Number | None = None, y_plain: Number | None = None
                ) -> bool:
    """x_plain / y_plain: the side as a plain number, when it is one (only then may a decimal round)."""
    x, y = _exact(x), _exact(y)
    if x.free_symbols or y.free_symbols:
        return sympy.simplify(x - y) == 0
    vx, vy = _value(x), _value(y)
    if vx is None or vy is None:  # complex, infinite or undefined: only an exact zero difference counts
        return sympy.simplify(x - y) == 0
    if (x_plain and rounds_to(x_plain, vy)) or (y_plain and rounds_to(y_plain, vx)):
        return True
    if x.is_Rational and y.is_Rational:  # integers and fractions: exactly, never "close enough"
        return x == y
    return abs(vx - vy) <= _IRRATIONAL_TOL * max(abs(vx), abs(vy))


def _exact(expr: sympy.Expr) -> sympy.Expr:
    """Decimals as the exact rationals they write (0.001 -> 1/1000), then evaluated (2^{20} -> 1048576)."""
    return expr.xreplace({f: sympy.Rational(str(f)) for f in expr.atoms(sympy.Float)}).doit()


def _value(expr: sympy.Expr) -> Fraction | None:
    """The real value of a constant expression: exact if rational, else to DIGITS digits."""
    if expr.is_Rational:
        return Fraction(int(expr.p), int(expr.q))
    try:
        value = sympy.N(expr, DIGITS)
        if not value.is_real or not value.is_finite:
            return None
        return Fraction(str(value))
    except (TypeError, ValueError):
        return None
