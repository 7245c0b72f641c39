"""Compare displays whatever their layout: a long equation is set on several aligned rows."""

import re


def flat(markdown: str) -> str:
    """``markdown`` with the marks of a multi-row display taken out (``aligned``, ``&``, row
    breaks, the ``\\quad`` that indents a wrapped sum, ``\\right.``/``\\left.``), spaces collapsed:
    the content a single-line display would have had."""
    text = markdown.replace(r"\begin{aligned}", "").replace(r"\end{aligned}", "")
    text = re.sub(r"\s*&\s*(?=\\\\)", " ", text)  # a row with nothing right of its mark
    # an aligned row starts with its mark; a matrix's rows do not, and stay
    text = re.sub(r"(\\right\.)?\s*\\\\\s*&\s*(\\quad\s*)?(\\left\.\s*)?", " ", text)
    text = re.sub(r"&(?! )", "", text)  # alignment marks: a matrix's " & " stays
    text = re.sub(r" +", " ", text)
    return text.replace("$$ ", "$$").replace(" $$", "$$")
