"""The method: audio and visual features, selection, per-person normalisation, classifiers,
evaluation and the choice of settings on inner training speakers.

Imports :mod:`mer_helpers.core` and :mod:`mer_helpers.data`; never a stage or the chain.
"""
