"""SymPy for the derivations: the functions they use, and the check that an identity holds."""

from __future__ import annotations

import functools
from fractions import Fraction

# ---------------------------------------------------------------- SymPy helpers


@functools.cache
def sympy_env():
    import sympy as sp

    class sig(sp.Function):
        """The logistic sigmoid as SymPy sees it: sig' = sig (1 - sig)."""

        def fdiff(self, argindex=1):
            return sig(self.args[0]) * (1 - sig(self.args[0]))

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class sigp(sp.Function):
        """sigma' of an unspecified activation sigma (kept symbolic)."""

        def _latex(self, printer, exp=None):
            return rf"\sigma'\left({printer._print(self.args[0])}\right)"

    class act(sp.Function):
        """An unspecified activation sigma with derivative sigp."""

        def fdiff(self, argindex=1):
            return sigp(self.args[0])

        def _latex(self, printer, exp=None):
            s = rf"\sigma\left({printer._print(self.args[0])}\right)"
            return s if exp is None else rf"{s}^{{{exp}}}"

    class fp(sp.Function):
        def _latex(self, printer, exp=None):
            return rf"f'\left({printer._print(self.args[0])}\right)"

    class f(sp.Function):
        """A general activation f with derivative fp."""

        def fdiff(self, argindex=1):
            return fp(self.args[0])

    return sp, sig, act, sigp, f, fp


def is_zero(expr) -> bool:
    """True when ``expr`` (or every entry of a SymPy matrix) simplifies to 0."""
    sp = sympy_env()[0]
    if isinstance(expr, sp.MatrixBase):
        return all(is_zero(e) for e in expr)
    e = sp.expand(expr)
    if e == 0:
        return True
    e = sp.cancel(sp.together(e))  # rational functions (of exp(z), sigma(u), ...) cancel fast
    return e == 0 or sp.simplify(e) == 0


def verify(claims: list[tuple[str, object]]) -> list[str]:
    """Each claim is (description, lhs - rhs); every difference must simplify to 0."""
    for desc, diff in claims:
        if not is_zero(diff):
            raise RuntimeError(f"symbolic check failed: {desc}")
    return [desc for desc, _ in claims]


def matrix_zero(desc: str, M) -> tuple[str, object]:
    """A claim that every entry of the SymPy matrix ``M`` is zero."""
    return desc, M


def rational(v):
    """An exact int/Fraction as a SymPy Rational."""
    sp = sympy_env()[0]
    v = Fraction(v)
    return sp.Rational(v.numerator, v.denominator)
