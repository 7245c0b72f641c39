"""Render a worked answer's Markdown for where it is read: terminal, Markdown, JSON or HTML.

``emit(answer, args)`` is what every worked command's ``main`` calls: ``--format`` (or
``--json``) chooses the form; without either, a terminal gets the rendered text form and a
pipe or file keeps the Markdown (so ``stridelab conv ... > answer.md`` stays Markdown).
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import textwrap
import unicodedata

FORMATS = ("text", "markdown", "json", "html")


def add_format_arguments(parser: argparse.ArgumentParser) -> None:
    """--format and --json, shared by every worked command."""
    parser.add_argument("--format", choices=FORMATS, default=None,
                        help="text (a terminal's default), markdown (a pipe's default), "
                             "json or html")
    parser.add_argument("--json", action="store_true", help="the same as --format json")


def chosen_format(args: argparse.Namespace, stream=None) -> str:
    if getattr(args, "json", False):
        return "json"
    fmt = getattr(args, "format", None)
    if fmt:
        return fmt
    stream = stream or sys.stdout
    return "text" if getattr(stream, "isatty", lambda: False)() else "markdown"


def render(answer, fmt: str, *, width: int | None = None) -> str:
    if fmt == "json":
        return answer.to_json()
    if fmt == "html":
        return answer.to_html()
    if fmt == "text":
        return answer.to_text(width or shutil.get_terminal_size((100, 24)).columns)
    return answer.to_markdown()


def emit(answer, args: argparse.Namespace, *, extra_lines: list[str] | None = None) -> None:
    """Print ``answer`` in the chosen format (``extra_lines`` follow it, Markdown forms only)."""
    fmt = chosen_format(args)
    text = render(answer, fmt)
    if extra_lines and fmt in ("markdown", "text"):
        text = text.rstrip("\n") + "\n" + "\n".join(extra_lines)
    print(text)


# ---------------------------------------------------------------------------------------------
# LaTeX (the subset the worked answers write) as Unicode text laid out in two dimensions
#
# A formula becomes a Box: lines of equal width and the index of its baseline row, so that a
# matrix sits beside "X =" with the "=" on its middle row, as it would on paper.


class Box:
    __slots__ = ("lines", "base", "stacked")

    def __init__(self, lines: list[str], base: int = 0, stacked: bool = False):
        width = max((len(line) for line in lines), default=0)
        self.lines = [line.ljust(width) for line in lines] or [""]
        self.base = base
        self.stacked = stacked  # a fraction set over its rule

    @property
    def width(self) -> int:
        return len(self.lines[0])

    @property
    def height(self) -> int:
        return len(self.lines)

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.lines)


def _hcat(boxes: list[Box]) -> Box:
    boxes = [b for b in boxes if b.width or b.height > 1]
    if not boxes:
        return Box([""])
    above = max(b.base for b in boxes)
    below = max(b.height - b.base for b in boxes)
    rows = [""] * (above + below)
    for b in boxes:
        top = above - b.base
        for r in range(above + below):
            i = r - top
            rows[r] += b.lines[i] if 0 <= i < b.height else " " * b.width
    return Box(rows, above)


def _vcat(boxes: list[Box], base: int | None = None) -> Box:
    lines = [line for b in boxes for line in b.lines]
    return Box(lines, (len(lines) - 1) // 2 if base is None else base)


_SUB = dict(zip("0123456789+-=()aehijklmnoprstuvxβγρφχ", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₕᵢⱼₖₗₘₙₒₚᵣₛₜᵤᵥₓᵦᵧᵨᵩᵪ"))
_SUP = dict(zip("0123456789+-=()abcdefghijklmnoprstuvwxyzABDEGHIJKLMNOPRTUVWαβγδεθιφχ′*",
                "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂᵅᵝᵞᵟᵋᶿᶥᶲᵡ′*"))
for _table in (_SUB, _SUP):
    _table.update({",": ",", " ": ""})
_SUP.update({"ᵀ": "ᵀ", "T": "ᵀ", "−": "⁻", "∗": "*"})

_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "iota": "ι", "kappa": "κ", "lambda": "λ", "mu": "μ",
    "nu": "ν", "xi": "ξ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "upsilon": "υ",
    "phi": "φ", "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ",
    "Delta": "Δ", "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Phi": "Φ",
    "Psi": "Ψ", "Omega": "Ω", "cdot": "·", "times": "×", "div": "÷", "pm": "±", "mp": "∓",
    "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥", "neq": "≠", "ne": "≠", "approx": "≈",
    "equiv": "≡", "sim": "∼", "propto": "∝", "in": "∈", "notin": "∉", "subset": "⊂",
    "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "Σ", "prod": "Π", "int": "∫",
    "leftarrow": "←", "rightarrow": "→", "to": "→", "Rightarrow": "⇒", "Leftarrow": "⇐",
    "Leftrightarrow": "⇔", "iff": "⇔", "implies": "⇒", "mapsto": "↦", "gets": "←",
    "ldots": "…", "dots": "…", "cdots": "⋯", "vdots": "⋮", "ddots": "⋱", "top": "ᵀ",
    "lfloor": "⌊", "rfloor": "⌋", "lceil": "⌈", "rceil": "⌉", "langle": "⟨", "rangle": "⟩",
    "|": "‖", "Vert": "‖", "lVert": "‖", "rVert": "‖", "lvert": "|", "rvert": "|",
    "succ": "≻", "prec": "≺", "succeq": "⪰", "preceq": "⪯", "ll": "≪", "gg": "≫",
    "nearrow": "↗", "searrow": "↘", "uparrow": "↑", "downarrow": "↓", "lbrace": "{",
    "rbrace": "}", "sim_": "∼", "cong": "≅", "simeq": "≃", "angle": "∠", "degree": "°", "vert": "|", "mid": "|", "{": "{", "}": "}", "%": "%", "_": "_",
    "#": "#", "&": "&", "$": "$", "forall": "∀", "exists": "∃", "circ": "∘", "odot": "⊙",
    "otimes": "⊗", "oplus": "⊕", "star": "⋆", "ast": "∗", "star_": "⋆", "prime": "′",
    "quad": "  ", "qquad": "    ", ",": " ", ";": " ", ":": " ", " ": " ", "!": "",
    "ln": "ln", "log": "log", "exp": "exp", "max": "max", "min": "min", "arg": "arg",
    "sin": "sin", "cos": "cos", "tanh": "tanh", "det": "det", "lim": "lim", "sup": "sup",
    "colon": ":", "ell": "ℓ", "hbar": "ℏ", "Re": "ℜ", "emptyset": "∅", "neg": "¬",
    "land": "∧", "lor": "∨", "cap": "∩", "cup": "∪", "setminus": "∖", "perp": "⊥",
    "backslash": "\\", "displaystyle": "", "textstyle": "", "limits": "", "nolimits": "",
    "big": "", "Big": "", "bigg": "", "Bigg": "", "bigl": "", "bigr": "", "Bigl": "",
    "Bigr": "", "biggl": "", "biggr": "", "middle": "",
}
_SWALLOW = {"cdot", "times", "left", "right", "frac", "dfrac", "tfrac", "sqrt", "text",
            "mathrm", "mathbf", "mathit", "boldsymbol", "operatorname", "begin", "end", "hat",
            "bar", "tilde", "vec", "underline", "overline", "displaystyle", "big", "Big",
            "bigl", "bigr", "Bigl", "Bigr", "lVert", "quad", "qquad", "mathbb", "mathcal", "div", "pm",
            "cdots", "ldots", "dots", "partial", "nabla", "sum", "prod", "int"}
_FONTS = {"mathrm", "mathbf", "mathit", "boldsymbol", "operatorname", "mathsf", "mathtt",
          "mathcal", "bm", "textbf", "textit", "textrm", "emph"}
_BLACKBOARD = {"R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "E": "𝔼", "P": "ℙ"}
_ACCENTS = {"hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0305",
            "tilde": "\u0303", "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307",
            "ddot": "\u0308", "underline": "\u0332"}
_TALL = {"(": "⎛⎜⎝", ")": "⎞⎟⎠", "[": "⎡⎢⎣", "]": "⎤⎥⎦", "{": "⎧⎨⎩", "}": "⎫⎬⎭",
         "|": "│││", "‖": "‖‖‖", "⌊": "⎢⎢⎣", "⌋": "⎥⎥⎦", "⌈": "⎡⎢⎢", "⌉": "⎤⎥⎥", ".": "   "}
_MATRICES = {"bmatrix": "[]", "pmatrix": "()", "vmatrix": "||", "Vmatrix": "‖‖",
             "matrix": "  ", "smallmatrix": "  ", "array": "  ", "Bmatrix": "{}"}


def _delimiter(char: str, height: int, base: int) -> Box:
    if height <= 1 or char not in _TALL:
        return Box([char if char != "." else ""], 0)
    top, mid, bottom = _TALL[char]
    return Box([top] + [mid] * (height - 2) + [bottom], base)


class _Tex:
    """A small recursive-descent reader of the LaTeX the worked answers write."""

    def __init__(self, tex: str, display: bool, stacked: bool | None = None):
        self.s, self.i, self.display = tex, 0, display
        self.stacked = display if stacked is None else stacked  # fractions over a rule

    # -- tokens ----------------------------------------------------------------------------
    def _peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def _command(self) -> str:
        j = self.i + 1
        if j < len(self.s) and self.s[j].isalpha():
            while j < len(self.s) and self.s[j].isalpha():
                j += 1
            name = self.s[self.i + 1:j]
            if name in _SWALLOW:  # "2\cdot 2" is 2·2; "\rfloor + 1" keeps its space
                while j < len(self.s) and self.s[j] == " ":
                    j += 1
        else:
            name = self.s[j:j + 1]
            j += 1
        self.i = j
        return name

    def _group_text(self) -> str:
        """The raw text of the next {...} group (or the next character)."""
        while self._peek() == " ":
            self.i += 1
        if self._peek() == "\\":  # x^\top, x_\alpha: the whole control word
            j = self.i + 1
            while j < len(self.s) and self.s[j].isalpha():
                j += 1
            j = max(j, self.i + 2)
            text, self.i = self.s[self.i:j], j
            return text
        if self._peek() != "{":
            c = self._peek()
            self.i += 1
            return c
        depth, j = 0, self.i
        while j < len(self.s):
            if self.s[j] == "\\":
                j += 2
                continue
            if self.s[j] == "{":
                depth += 1
            elif self.s[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        text = self.s[self.i + 1:j]
        self.i = j + 1
        return text

    def _sub(self, text: str) -> Box:
        return _Tex(text, self.display, self.stacked).parse()

    # -- grammar ---------------------------------------------------------------------------
    def parse(self, stop: tuple[str, ...] = ()) -> Box:
        """Boxes up to the end or a stop token (``&``, ``\\\\``, ``\\right``, ``\\end``)."""
        items: list[Box] = []
        while self.i < len(self.s):
            c = self._peek()
            if any(self.s.startswith(t, self.i) for t in stop):
                break
            if c == "\\":
                box = self._control(self._command())
            elif c == "{":
                box = self._sub(self._group_text())
            elif c == "}":
                self.i += 1
                continue
            elif c in "_^":
                self.i += 1
                box = self._script(items.pop() if items else Box([""]), c)
            elif c == "~":
                self.i += 1
                box = Box([" "])
            elif c == "'":
                self.i += 1
                box = Box(["′"])
            else:
                self.i += 1
                box = Box([c])
            if box is not None:
                if box.stacked and items and items[-1].stacked:  # two fractions side by side
                    items.append(Box([" "]))
                items.append(box)
        return _hcat(items)

    def _script(self, base: Box, kind: str) -> Box:
        raw = self._group_text()
        other = None
        if self._peek() in "_^" and self._peek() != kind:  # x_i^2 and x^2_i
            other_kind = self._peek()
            self.i += 1
            other = (other_kind, self._group_text())
        out = self._attach(base, kind, raw)
        if other:
            out = self._attach(out, *other)
        return out

    def _attach(self, base: Box, kind: str, raw: str) -> Box:
        inner = self._sub(raw)
        table = _SUB if kind == "_" else _SUP
        if inner.height == 1 and all(ch in table for ch in inner.lines[0].strip()):
            text = "".join(table[ch] for ch in inner.lines[0].strip())
            if base.height == 1:
                return Box([base.lines[0].rstrip() + text])
            return _hcat([base, Box([text], 0 if kind == "^" else 0)])
        flat = " ".join(line.strip() for line in inner.lines)
        text = f"{kind}{flat}" if len(flat) == 1 else f"{kind}({flat})"
        return _hcat([base, Box([text])])

    def _control(self, name: str) -> Box | None:
        if name == "\\":
            return Box(["\n"])  # a line break outside an environment: handled by the caller
        if name in ("frac", "dfrac", "tfrac", "cfrac"):
            num, den = self._sub(self._group_text()), self._sub(self._group_text())
            if self.stacked and num.height == 1 and den.height == 1:
                width = max(num.width, den.width)
                return Box([num.lines[0].strip().center(width), "─" * width,
                            den.lines[0].strip().center(width)], 1, stacked=True)
            a, b = (" ".join(x.lines).strip() for x in (num, den))
            a = a if _atomic(a) else f"({a})"
            b = b if _atomic(b) else f"({b})"
            return Box([f"{a}/{b}"])
        if name == "sqrt":
            inner = " ".join(self._sub(self._group_text()).lines).strip()
            return Box([f"√{inner}" if _atomic(inner) else f"√({inner})"])
        if name in ("text", "textnormal", "mbox", "hbox"):
            return Box([self._group_text()])
        if name in _FONTS:
            return self._sub(self._group_text())
        if name == "mathbb":
            raw = self._group_text()
            return Box(["".join(_BLACKBOARD.get(ch, ch) for ch in raw)])
        if name in _ACCENTS:
            inner = self._sub(self._group_text())
            if inner.height == 1:
                return Box(["".join(ch + _ACCENTS[name] if ch.strip() else ch
                                    for ch in inner.lines[0])])
            return inner
        if name == "left":
            return self._left_right()
        if name in ("right",):
            self._group_text()
            return None
        if name == "begin":
            return self._environment(self._group_text())
        if name == "end":
            self._group_text()
            return None
        if name in ("hspace", "vspace", "label", "tag", "phantom"):
            self._group_text()
            return Box([" "]) if name == "hspace" else None
        if name in ("binom",):
            a, b = (" ".join(self._sub(self._group_text()).lines).strip() for _ in range(2))
            return Box([f"C({a}, {b})"])
        if name in _SYMBOLS:
            return Box([_SYMBOLS[name]])
        return Box([name])  # an unknown command: its name, so nothing is silently lost

    def _left_right(self) -> Box:
        opening = self._delim_char()
        inner = self.parse(stop=("\\right",))
        if self.s.startswith("\\right", self.i):
            self.i += len("\\right")
        closing = self._delim_char()
        return _hcat([_delimiter(opening, inner.height, inner.base), inner,
                      _delimiter(closing, inner.height, inner.base)])

    def _delim_char(self) -> str:
        while self._peek() == " ":
            self.i += 1
        if self._peek() == "\\":
            name = self._command()
            return _SYMBOLS.get(name, name)
        c = self._peek()
        self.i += 1
        return c

    def _rows(self, env: str) -> list[list[Box]]:
        rows: list[list[Box]] = [[]]
        while self.i < len(self.s):
            cell = self.parse(stop=("&", "\\\\", "\\end"))
            rows[-1].append(cell)
            if self.s.startswith("\\end", self.i):
                self.i += len("\\end")
                self._group_text()
                break
            if self._peek() == "&":
                self.i += 1
            elif self.s.startswith("\\\\", self.i):
                self.i += 2
                rows.append([])
        return [r for r in rows if any(c.width for c in r)]

    def _environment(self, env: str) -> Box:
        if env == "array":
            self._group_text()  # the column spec
        rows = self._rows(env)
        if not rows:
            return Box([""])
        if env in ("aligned", "align", "align*", "split", "eqnarray"):
            return _aligned(rows)
        if env == "gathered":
            return _vcat([_hcat(row) for row in rows], 0)
        if env == "cases":
            body = _grid(rows, gap=3)
            return _hcat([_delimiter("{", body.height, body.base), Box([" "]), body])
        left, right = _MATRICES.get(env, "[]")
        body = _grid(rows, gap=2, align_right=True)
        if body.height == 1:
            return Box([f"{left}{body.lines[0]}{right}".strip() if left.strip()
                        else body.lines[0]])
        return _hcat([_delimiter(left, body.height, body.base), Box([" "]), body, Box([" "]),
                      _delimiter(right, body.height, body.base)])


def _aligned(rows: list[list[Box]]) -> Box:
    """An ``aligned`` block: columns in pairs, the first of each right-aligned and the second
    left-aligned (so the relations line up), one relation's space between them."""
    n_cols = max(len(r) for r in rows)
    cells = [[_trim(r[c]) if c < len(r) else Box([""]) for c in range(n_cols)] for r in rows]
    widths = [max(row[c].width for row in cells) for c in range(n_cols)]
    lines = []
    for row in cells:
        padded = []
        for c, (box, w) in enumerate(zip(row, widths)):
            pad = " " * (w - box.width)
            lines_c = [pad + ln if c % 2 == 0 else ln + pad for ln in box.lines]
            padded.append(Box(lines_c, box.base))
            if c % 2 == 0 and c + 1 < n_cols and w:
                padded.append(Box([" "]))
        lines.append(_hcat(padded))
    return _vcat(lines, 0)


def _trim(box: Box) -> Box:
    """``box`` without the blank columns on its left and right."""
    text = [ln.rstrip() for ln in box.lines]
    lead = min((len(ln) - len(ln.lstrip()) for ln in text if ln.strip()), default=0)
    return Box([ln[lead:] for ln in text], box.base)


def _grid(rows: list[list[Box]], gap: int = 2, align_right: bool = False) -> Box:
    n_cols = max(len(r) for r in rows)
    texts = [[(r[c].lines[0] if c < len(r) else "").strip() for c in range(n_cols)] for r in rows]
    widths = [max(len(t[c]) for t in texts) for c in range(n_cols)]
    lines = []
    for cells in texts:
        cells = [cell.rjust(w) if align_right else cell.ljust(w) for cell, w in zip(cells, widths)]
        lines.append((" " * gap).join(cells))
    return Box(lines, (len(lines) - 1) // 2)


_OPERATORS = frozenset("+-−·×/=,<>≤≥≈: ")


def _atomic(text: str) -> bool:
    """True when ``text`` needs no parentheses as a numerator or denominator: one symbol,
    number or bracketed group (``∂L``, ``ŷₖ``, ``-0.5``, ``(a + b)``), no operator in it."""
    t = text.strip()
    if not t:
        return False
    if t.startswith("(") and t.endswith(")"):
        return True
    body = t[1:] if t[0] in "-−" else t
    return not any(ch in _OPERATORS for ch in body)


def latex_to_text(tex: str, display: bool = False, stacked: bool | None = None) -> str:
    """A LaTeX formula as Unicode text; display formulas may take several lines (matrices,
    the rows of ``aligned``, and fractions set over a rule unless ``stacked`` is False)."""
    box = _Tex(tex.strip(), display, stacked).parse()
    if not display:
        text = " ".join(line.strip() for line in box.lines).replace("\n", " ")
    else:
        text = box.text()
    return unicodedata.normalize("NFC", text)  # y + combining hat -> ŷ where one glyph exists


# ---------------------------------------------------------------------------------------------
# Markdown (the subset the worked answers write) as terminal text

_INLINE_MATH = re.compile(r"(?<![\\$])\$(?!\$)(.+?)(?<![\\])\$")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_CODE = re.compile(r"`([^`]+)`")
_LINK = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


def _inline(text: str) -> str:
    text = _INLINE_MATH.sub(lambda m: latex_to_text(m.group(1)), text)
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _CODE.sub(lambda m: m.group(1), text)
    text = _LINK.sub(lambda m: f"{m.group(1)} ({m.group(2)})", text)
    return text.replace("\\$", "$")


def inline_text(markdown: str) -> str:
    """One line of Markdown (``$…$`` formulas, ``**bold**``, ``code``) as plain Unicode text."""
    return _inline(markdown)


def _table(lines: list[str], width: int) -> list[str]:
    rows = [[_inline(c.strip()) for c in line.strip().strip("|").split("|")] for line in lines
            if not re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", line.strip())]
    if not rows:
        return []
    n = max(len(r) for r in rows)
    rows = [r + [""] * (n - len(r)) for r in rows]
    widths = [max(len(r[c]) for r in rows) for c in range(n)]
    if sum(widths) + 3 * (n - 1) <= width:
        out = [" │ ".join(c.ljust(w) for c, w in zip(rows[0], widths)).rstrip(),
               "─┼─".join("─" * w for w in widths)]
        out += [" │ ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows[1:]]
        return out
    # too wide for the terminal: one block per row, "header: value"
    out = []
    head = rows[0]
    label = max(len(h) for h in head)
    for r in rows[1:]:
        for h, c in zip(head, r):
            if c:
                out += textwrap.wrap(f"{h.rjust(label)}: {c}", width,
                                     subsequent_indent=" " * (label + 2)) or [""]
        out.append("")
    return out[:-1]


def markdown_to_text(markdown: str, width: int = 100) -> str:
    """Markdown with LaTeX as plain text: aligned matrices, Unicode sub/superscripts, wrapped."""
    width = max(int(width), 40)
    out: list[str] = []
    lines = markdown.replace("\r\n", "\n").split("\n")
    i = 0

    def paragraph(buf: list[str], indent: str = "", first: str = "") -> None:
        text = _inline(" ".join(s.strip() for s in buf))
        out.extend(textwrap.wrap(text, width, initial_indent=first or indent,
                                 subsequent_indent=indent, break_on_hyphens=False) or [""])

    buf: list[str] = []
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("$$"):
            if buf:
                paragraph(buf)
                buf = []
            block = stripped[2:]
            while not block.rstrip().endswith("$$") and i + 1 < len(lines):
                i += 1
                block += "\n" + lines[i].strip()
            tex = block.rstrip()[:-2] if block.rstrip().endswith("$$") else block
            rendered = latex_to_text(tex, display=True).split("\n")
            for r in rendered:
                if len(r) + 2 > width and len(rendered) == 1:
                    out.extend(textwrap.wrap(r, width - 2, initial_indent="  ",
                                             subsequent_indent="      ") or [""])
                else:
                    out.append("  " + r)
            out.append("")
        elif stripped.startswith("|"):
            if buf:
                paragraph(buf)
                buf = []
            block = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                block.append(lines[i])
                i += 1
            out.extend(_table(block, width))
            out.append("")
            continue
        elif re.match(r"#{1,6} ", stripped):
            if buf:
                paragraph(buf)
                buf = []
            level = len(stripped) - len(stripped.lstrip("#"))
            title = _inline(stripped[level:].strip())
            out.append(title)
            out.append(("═" if level <= 2 else "─") * min(len(title), width))
            out.append("")
        elif re.match(r"([-*+]|\d+[.)]) ", stripped):
            if buf:
                paragraph(buf)
                buf = []
            marker, _, rest = stripped.partition(" ")
            item = [rest]
            while i + 1 < len(lines) and lines[i + 1].strip() and \
                    not re.match(r"([-*+]|\d+[.)]) |#|\||\$\$", lines[i + 1].strip()):
                i += 1
                item.append(lines[i])
            bullet = "• " if marker in "-*+" else marker + " "
            paragraph(item, indent=" " * (len(bullet) + 2), first="  " + bullet)
        elif stripped.startswith("```"):
            if buf:
                paragraph(buf)
                buf = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append("    " + lines[i])
                i += 1
            out.append("")
        elif not stripped:
            if buf:
                paragraph(buf)
                buf = []
                out.append("")
        else:
            buf.append(line)
        i += 1
    if buf:
        paragraph(buf)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


def markdown_to_html(markdown: str, title: str = "stridelab worked solution") -> str:
    """A self-contained HTML page of ``markdown`` through the report's renderer (KaTeX bundled)."""
    try:
        from stridelab.report.render import Section, render_document
    except ImportError:  # the renderer is optional for a bare fragment
        from markdown_it import MarkdownIt

        return MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    heading = re.match(r"\s*#{1,3} (.+)", markdown)
    name = _inline(heading.group(1)) if heading else title
    body = markdown[heading.end():] if heading else markdown
    return render_document(name, [Section(title=name, markdown=body.strip())], toc=False)


def markdown_to_latex(markdown: str) -> str | None:
    """The answer's display formulas as one LaTeX string (Jupyter's ``_repr_latex_``)."""
    blocks = re.findall(r"\$\$(.+?)\$\$", markdown, flags=re.S)
    return "\n".join(f"$${b.strip()}$$" for b in blocks) or None
