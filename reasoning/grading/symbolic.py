"""sympy equality of two normalised LaTeX answers. Runs inside the helper process (worker.py): any of
this may hang on a pathological input, so never call it on the caller's thread without a time bound."""

import logging

import sympy
from latex2sympy2_extended import NormalizationConfig, latex2sympy

# latex2sympy2_extended is math-verify's well-kept LaTeX parser (an ANTLR grammar, no eval of input).
_NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=True, malformed_operators=True, nits=True, boxed="none", equations=False
)
logging.getLogger("latex2sympy2_extended").setLevel(logging.ERROR)


def symbolic_equal(a: str, b: str, rel_tol: float) -> bool:
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
        return _expr_equal(dx, dy, rel_tol) or _expr_equal(dx, -dy, rel_tol)
    if isinstance(x, sympy.MatrixBase) and isinstance(y, sympy.MatrixBase):
        return x.shape == y.shape and all(_expr_equal(p, q, rel_tol) for p, q in zip(x, y))
    if isinstance(x, sympy.Expr) and isinstance(y, sympy.Expr):
        return _expr_equal(x, y, rel_tol)
    return False


def _parse(text: str):
    try:
        return latex2sympy(text, normalization_config=_NORMALIZATION)
    except Exception:  # the parser raises many types on malformed LaTeX; unparsable is "not equal"
        return None


def _expr_equal(x: sympy.Expr, y: sympy.Expr, rel_tol: float) -> bool:
    if not x.free_symbols and not y.free_symbols:
        # Plain values (2\sqrt{3} vs \sqrt{12}, 3.14159 vs \pi): compare numerically.
        try:
            vx, vy = complex(sympy.N(x, 30)), complex(sympy.N(y, 30))
        except (TypeError, ValueError):  # infinities, undefined values: x == y already said no
            return False
        return abs(vx - vy) <= rel_tol * max(abs(vx), abs(vy), 1e-12)
    return sympy.simplify(x - y) == 0
