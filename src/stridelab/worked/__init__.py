"""Worked solutions: exact, explained answers to the hand exercises of a CNN course.

Each module computes with pure functions that return data (``solve`` -> a dataclass) and
renders it separately (``to_markdown`` with LaTeX, ``to_dict`` for JSON), so the command
line and the HTML report show the same answers:

- :mod:`stridelab.worked.conv`: filters applied to a matrix or an image, cell by cell.
- :mod:`stridelab.worked.shape`: output shapes and parameter counts of a layer chain.
- :mod:`stridelab.worked.backprop`: forward pass, chain rule and SGD updates of a small MLP.
- :mod:`stridelab.worked.derive`: SymPy derivations checked numerically by autodiff.

Modules import only NumPy at import time; SciPy, SymPy and PyTorch load when used.
"""
