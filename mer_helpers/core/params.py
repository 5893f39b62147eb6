"""Constructor parameters of the package's scikit-learn estimators.

scikit-learn wants ``__init__`` to store every keyword argument unchanged under its own name
(``get_params`` / ``clone`` read them back). The featurizers have a dozen or more such
arguments each; :func:`store_init_params` is the one place that stores them.
"""
from __future__ import annotations

import inspect
from typing import Any, Mapping


def store_init_params(estimator: Any, params: Mapping[str, Any]) -> None:
    """Set each ``__init__`` parameter of ``estimator`` to its value in ``params``, unchanged.

    Call it first thing in ``__init__`` as ``store_init_params(self, locals())``.

    Parameters
    ----------
    estimator : object
        The instance being constructed.
    params : mapping
        At least every named parameter of ``type(estimator).__init__`` (other keys, e.g.
        ``self``, are ignored).

    Raises
    ------
    TypeError
        A parameter of ``__init__`` is missing from ``params``.
    """
    sig = inspect.signature(type(estimator).__init__)
    names = [n for n, p in sig.parameters.items()
             if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [n for n in names if n not in params]
    if missing:
        raise TypeError(f"store_init_params: no value for {missing} of {type(estimator).__name__}.__init__")
    for n in names:
        setattr(estimator, n, params[n])
