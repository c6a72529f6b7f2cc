"""Architectures: the spec, its text forms, the op registry, cost, scaling and the PyTorch model.

Everything here except :mod:`~effsearch.arch.blocks`, :mod:`~effsearch.arch.classic` and
:mod:`~effsearch.arch.builder` is pure Python (no torch), so specs can be read, counted and scaled anywhere.
"""
