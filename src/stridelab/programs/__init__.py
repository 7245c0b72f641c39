"""Standalone programs that a course sheet asks a student to write and hand in.

Each file here is a complete, readable program that a student could hand in as it is: it runs
as a script (``python kmeans.py --help``) and imports only what the course allows (NumPy,
PyTorch, the standard library), never stridelab, so it can be copied out of the package and
run elsewhere. The studies in :mod:`stridelab.experiments` import their models and algorithms
from these files, so the program a hand-in shows and the study that measured it share one
definition.
"""
