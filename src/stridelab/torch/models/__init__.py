"""What the PyTorch studies need beside their networks: counting and input pipelines.

The networks a sheet asks a student to build live in the hand-in programs
(:mod:`stridelab.programs`), and the studies import them from there.
"""
