"""Lévy flights: Mantegna's algorithm for the heavy-tailed steps of the improved Zebra algorithm.

Paper 2 (§3.5, Eq. 14-16) perturbs IZOA's candidates with Lévy-stable steps drawn by Mantegna's
algorithm (R. N. Mantegna 1994, Phys. Rev. E 49:4677): :func:`mantegna_sigma` is its σ_u,
:func:`levy_flight` draws the steps, and :func:`hill_tail_index` estimates the tail index of a
sample, so that notebook 05 and the tests can check that the steps are as heavy-tailed as λ says.
The optimiser itself is :class:`mer_helpers.methods.selection.ZebraFeatureSelector`.
"""
from __future__ import annotations

import math

import numpy as np


def mantegna_sigma(lam: float = 1.5) -> float:
    """σ_u of Mantegna's algorithm (paper 2, Eq. 15)::

        σ_u = [Γ(1+λ) sin(πλ/2) / (Γ((1+λ)/2) λ 2^((λ-1)/2))]^(1/λ)

    Parameters
    ----------
    lam : float
        The stability index λ in (0, 2].

    Returns
    -------
    float
    """
    if not 0 < lam <= 2:
        raise ValueError(f"Lévy index must be in (0, 2], got {lam}")
    num = math.gamma(1 + lam) * math.sin(math.pi * lam / 2)
    den = math.gamma((1 + lam) / 2) * lam * 2 ** ((lam - 1) / 2)
    return (num / den) ** (1 / lam)


def levy_flight(size, lam: float = 1.5, scale: float = 0.01, rng=None) -> np.ndarray:
    """Lévy-flight steps by Mantegna's method (paper 2, Eq. 14): ``scale * u / |v|^(1/λ)``.

    ``u ~ N(0, σ_u²)`` with σ_u from :func:`mantegna_sigma`, ``v ~ N(0, 1)``. (Paper 2 calls
    ``u`` and ``v`` "random numbers in [0, 1]"; Mantegna's method, which the cited σ formula
    belongs to, draws them from normal distributions, as done here.) The steps are symmetric
    with a power-law tail ``P(|step| > x) ~ x^(-λ)``: infinite variance for λ < 2.

    Parameters
    ----------
    size : int or tuple of int
        Shape of the steps.
    lam : float
        λ, the tail index.
    scale : float
        Step scale (paper 2's 0.01).
    rng : numpy.random.Generator or int, optional
        Random source or seed.

    Returns
    -------
    numpy.ndarray
        Steps of shape ``size``.
    """
    rng = np.random.default_rng(rng)
    u = rng.normal(0.0, mantegna_sigma(lam), size)
    v = rng.normal(0.0, 1.0, size)
    return scale * u / np.abs(v) ** (1.0 / lam)


def hill_tail_index(x, k: int = 1000) -> float:
    """Hill estimator of the tail index from the ``k`` largest values of ``|x|``.

    Parameters
    ----------
    x : array-like
        Samples (e.g. Lévy steps).
    k : int
        Order statistics used (at most ``len(x) - 1``).

    Returns
    -------
    float
        The estimated λ.
    """
    a = np.sort(np.abs(np.asarray(x, float)))[::-1]
    k = int(min(k, len(a) - 1))
    logs = np.log(a[:k]) - np.log(a[k])
    return float(1.0 / logs.mean())
