import numpy as np
import pytest

from sk_i2m2.metrics import expected_calibration_error


def test_calibrated_probabilities_have_a_small_error():
    rng = np.random.default_rng(0)
    p = rng.uniform(0.5, 1.0, 200_000)
    y = (rng.random(len(p)) < p).astype(int)  # class 1 happens with probability p
    proba = np.column_stack([1 - p, p])
    assert expected_calibration_error(y, proba, [0, 1]) < 0.01


def test_confident_mistakes_give_the_largest_error():
    proba = np.array([[0.99, 0.01], [0.01, 0.99]])
    assert expected_calibration_error([1, 0], proba, [0, 1]) == pytest.approx(0.99)


def test_bins_are_weighted_by_their_rows():
    proba = np.array([[0.9, 0.1]] * 3 + [[0.6, 0.4]])
    y = ["a", "a", "b", "a"]
    # Bin of 0.9: accuracy 2/3, 3 rows; bin of 0.6: accuracy 1, 1 row.
    expected = 0.75 * abs(2 / 3 - 0.9) + 0.25 * abs(1 - 0.6)
    assert expected_calibration_error(y, proba, ["a", "b"]) == pytest.approx(expected)


def test_columns_must_match_the_classes():
    with pytest.raises(ValueError, match="2 columns for 3 classes"):
        expected_calibration_error([0, 1], [[0.5, 0.5]] * 2, [0, 1, 2])
