"""Filter counts left open as symbols: polynomials in n (or n1, n2, ...) with integer coefficients."""

from __future__ import annotations

# ---------------------------------------------------------------- symbolic counts


class Sym:
    """A polynomial with integer coefficients in the unknown counts ``n`` (or ``n1``, ``n2``).

    ``terms`` maps a monomial (a sorted tuple of symbol names, repeated for powers; ``()`` is
    the constant) to its coefficient. Arithmetic with ints gives a :class:`Sym`; use
    :func:`_norm` to turn a constant back into an ``int``.
    """

    __slots__ = ("terms",)

    def __init__(self, terms: dict[tuple[str, ...], int]):
        self.terms = {m: c for m, c in terms.items() if c}

    @classmethod
    def symbol(cls, name: str) -> Sym:
        return cls({(name,): 1})

    def __add__(self, other):
        other = _as_sym(other)
        if other is NotImplemented:
            return NotImplemented
        t = dict(self.terms)
        for m, c in other.terms.items():
            t[m] = t.get(m, 0) + c
        return simplify(Sym(t))

    __radd__ = __add__

    def __mul__(self, other):
        other = _as_sym(other)
        if other is NotImplemented:
            return NotImplemented
        t: dict[tuple[str, ...], int] = {}
        for m1, c1 in self.terms.items():
            for m2, c2 in other.terms.items():
                m = tuple(sorted(m1 + m2))
                t[m] = t.get(m, 0) + c1 * c2
        return simplify(Sym(t))

    __rmul__ = __mul__

    def __eq__(self, other) -> bool:
        other = _as_sym(other)
        return other is not NotImplemented and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.terms.items())))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def _ordered(self):
        return sorted(self.terms.items(), key=lambda mc: (-len(mc[0]), mc[0]))

    def _render(self, commas: bool, latex: bool) -> str:
        minus = "-" if latex else "\u2212"
        out = ""
        for m, c in self._ordered():
            name = latex_symbol if latex else _text_symbol
            syms = "".join(name(s) for s in m)
            num = f"{abs(c):,}" if commas else str(abs(c))
            term = syms if (m and abs(c) == 1) else (num + syms)
            if not out:
                out = (minus if c < 0 else "") + term
            else:
                out += f" {minus if c < 0 else '+'} {term}"
        return out or "0"

    def __str__(self) -> str:
        return self._render(commas=False, latex=False)

    def __repr__(self) -> str:
        return f"Sym({self})"

    def __format__(self, spec: str) -> str:
        return self._render(commas="," in spec, latex=False)

    def latex(self, commas: bool = False) -> str:
        return self._render(commas=commas, latex=True)

    @property
    def symbols(self) -> set[str]:
        return {s for m in self.terms for s in m}


def _as_sym(v):
    if isinstance(v, Sym):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return Sym({(): v})
    return NotImplemented


def simplify(v):
    """An int when ``v`` has no symbol left, else ``v``."""
    if isinstance(v, Sym) and all(m == () for m in v.terms):
        return v.terms.get((), 0)
    return v


def _text_symbol(name: str) -> str:
    sub = str.maketrans("0123456789", "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089")
    return name[0] + name[1:].translate(sub)


def latex_symbol(name: str) -> str:
    return name if len(name) == 1 else f"{name[0]}_{{{name[1:]}}}"


def latex_of(v) -> str:
    return v.latex() if isinstance(v, Sym) else str(v)


def count_text(v) -> str:
    """A parameter count with thousands separators: ``46,226`` or ``24,010n + 10``."""
    return f"{v:,}"


def count_latex(v) -> str:
    text = v.latex(commas=True) if isinstance(v, Sym) else f"{v:,}"
    return text.replace(",", "{,}")


def is_sym(v) -> bool:
    return isinstance(v, Sym)



def json_dim(v):
    return str(v) if isinstance(v, Sym) else v
