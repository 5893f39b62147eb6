"""scripts/fusion_ceiling.py: the late fusion it scores."""
import numpy as np
import pandas as pd
import pytest
from synthetic import load_script


@pytest.fixture(scope="module")
def ceiling():
    return load_script("fusion_ceiling")


def _preds(p, y_true, split):
    df = pd.DataFrame(p, columns=["p_a", "p_b"])
    return df.assign(y_true=y_true, split=split)


def test_fused_f1_weights_and_folds(ceiling):
    classes = ["a", "b"]
    y = ["a", "b", "a", "b"]
    split = ["f0", "f0", "f1", "f1"]
    audio = _preds([[0.9, 0.1], [0.8, 0.2], [0.9, 0.1], [0.2, 0.8]], y, split)  # fold f0: one wrong
    visual = _preds([[0.6, 0.4], [0.3, 0.7], [0.4, 0.6], [0.3, 0.7]], y, split)  # fold f1: one wrong
    # weight 1: audio alone; f0 predicts a, a (F1 1/3), f1 right (F1 1): mean of the folds, not pooled
    assert ceiling.fused_f1(audio, visual, classes, 1.0) == pytest.approx((1 / 3 + 1) / 2)
    assert ceiling.fused_f1(audio, visual, classes, 0.0) == pytest.approx((1 + 1 / 3) / 2)
    # equal weights: log 0.9 + log 0.4 > log 0.1 + log 0.6 keeps f1's first clip right; f0's second
    # clip: log 0.8 + log 0.3 vs log 0.2 + log 0.7 -> a, wrong
    assert ceiling.fused_f1(audio, visual, classes, 0.5) == pytest.approx((1 / 3 + 1) / 2)
    assert np.isfinite(ceiling.fused_f1(audio.assign(p_a=0.0, p_b=1.0), visual, classes, 0.5))
