"""store_init_params: the one place the featurizers' constructors store their parameters."""
import pytest
from sklearn.base import BaseEstimator, clone

from mer_helpers.core.params import store_init_params


class _Toy(BaseEstimator):
    def __init__(self, a=1, b=None, *, c="x"):
        store_init_params(self, locals())


def test_stores_each_parameter_unchanged():
    obj = object()
    t = _Toy(a=3, b=obj, c="y")
    assert vars(t) == {"a": 3, "b": obj, "c": "y"}
    assert t.b is obj  # unchanged: clone relies on it
    assert clone(_Toy(a=3, b=[1, 2])).get_params() == {"a": 3, "b": [1, 2], "c": "x"}


def test_missing_parameter_raises():
    class Bad(BaseEstimator):
        def __init__(self, a=1, b=2):
            store_init_params(self, {"a": a})

    with pytest.raises(TypeError, match="'b'"):
        Bad()


def test_featurizers_keep_their_parameters():
    from mer_helpers.methods.audio_featurizer import AudioFeaturizer
    from mer_helpers.methods.summary import SummaryImages

    af = AudioFeaturizer(epochs=7, n_mfcc=20, features="ae")
    assert (af.epochs, af.n_mfcc, af.features, af.hidden_units) == (7, 20, "ae", 64)
    si = SummaryImages(n_clusters=5)
    assert set(vars(si)) == set(si.get_params()) and si.n_clusters == 5
