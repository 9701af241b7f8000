"""The notebook's HTML repr: modalities and their experts as nested boxes."""

import re
from html import unescape

import numpy as np
from sklearn.utils import estimator_html_repr

from sk_i2m2 import I2M2Classifier, ModalitySplitter
from sk_i2m2.datasets import make_multimodal_classification
from sk_i2m2.experts import AttentionFusion, CNNExpert, MLPExpert

from .conftest import FAST


def _labels(estimator):
    """The text of the repr's boxes (labels and their details), without markup."""
    html = estimator_html_repr(estimator)
    text = re.sub(r"<style.*?</style>|<[^>]+>", " ", html, flags=re.S)
    return unescape(re.sub(r"\s+", " ", text))


def _modalities():
    return [("clinical", MLPExpert(), ["age", "bmi"]),
            ("scan", CNNExpert(input_shape=(1, 2, 2)), ["px0", "px1", "px2", "px3"])]


def test_each_modality_is_a_box_with_its_expert_and_columns_beside_the_fusion_expert():
    text = _labels(I2M2Classifier(_modalities(), fusion=AttentionFusion()))
    assert "clinical ['age', 'bmi'] MLPExpert" in text
    assert "scan ['px0', 'px1', 'px2', 'px3'] CNNExpert" in text
    assert "fusion every modality AttentionFusion" in text


def test_intra_has_no_fusion_box_and_the_default_fusion_is_named():
    assert "every modality" not in _labels(I2M2Classifier(_modalities(), dependencies="intra"))
    assert "fusion every modality ConcatFusion" in _labels(I2M2Classifier(_modalities()))


def test_a_fitted_model_shows_the_resolved_columns_and_the_remainder():
    X, y, modalities = make_multimodal_classification(n_samples=60, n_features=3,
                                                      random_state=0)
    X["note"] = np.arange(len(X), dtype=float)
    first = modalities[:1]
    clf = I2M2Classifier(first, remainder="passthrough", **FAST).fit(X, y)
    text = _labels(clf)
    assert "m0 ['m0_x0', 'm0_x1', 'm0_x2'] MLPExpert" in text
    assert "remainder ['m1_x0', 'm1_x1', 'm1_x2', 'note'] MLPExpert" in text


def test_the_splitter_shows_the_same_boxes_and_a_bad_spec_does_not_break_the_repr():
    assert "clinical ['age', 'bmi'] MLPExpert" in _labels(ModalitySplitter(_modalities()))
    assert "I2M2Classifier" in _labels(I2M2Classifier(modalities="not a list"))
