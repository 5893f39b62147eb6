"""Clips and their labels: loaders, the label vocabulary, paired clips, splits, clip checks.

Imports :mod:`mer_helpers.core` only.
"""
