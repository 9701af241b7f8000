"""Multimodal data: a generator where the kind of dependency is known."""

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .experts import MLPExpert

__all__ = ["make_multimodal_classification"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_modalities": [Interval(Integral, 1, None, closed="left")],
        "dependency": [StrOptions({"intra", "inter", "mixed"})],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "class_sep": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_multimodal_classification(n_samples=1000, n_modalities=2, dependency="mixed",
                                   n_features=8, n_classes=2, class_sep=1.0,
                                   random_state=None):
    """Synthetic multimodal classification where the kind of dependency is known.

    Each modality ``m<k>`` has ``n_features`` columns ``m<k>_x<j>``; the rest of the
    columns beyond the informative ones are pure noise.

    * ``"intra"``: every modality carries its own evidence about ``y``: its first
      ``n_features // 2`` columns are Gaussian around a class centroid
      (distance scaled by ``class_sep``).
    * ``"inter"``: ``y`` is visible only across modalities. Each modality holds a
      code ``c_k`` in ``{0, ..., n_classes - 1}``, drawn as a noisy point on a circle
      in its first two columns, and ``y = (c_0 + ... + c_K) mod n_classes`` (an XOR
      for two classes). Any single modality is independent of ``y``.
    * ``"mixed"``: both at once; the class-centroid evidence is weakened
      (``class_sep / 2``) so that combining modalities pays.

    Parameters
    ----------
    n_samples : int, default=1000
    n_modalities : int, default=2
        ``"inter"`` and ``"mixed"`` need at least two.
    dependency : {"intra", "inter", "mixed"}, default="mixed"
    n_features : int, default=8
        Columns per modality (at least 2; ``"mixed"`` needs at least 3).
    n_classes : int, default=2
    class_sep : float, default=1.0
        Scale of the class centroids of the intra-modality evidence.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : DataFrame of shape (n_samples, n_modalities * n_features)
    y : ndarray of shape (n_samples,)
        Integer labels.
    modalities : list of (str, MLPExpert, list of str)
        The spec that fits ``X``: ``I2M2Classifier(modalities=modalities)``.

    Examples
    --------
    >>> from sk_i2m2.datasets import make_multimodal_classification
    >>> X, y, modalities = make_multimodal_classification(100, dependency="inter",
    ...                                                   random_state=0)
    >>> X.shape, [name for name, _, _ in modalities]
    ((100, 16), ['m0', 'm1'])
    """
    if dependency != "intra" and n_modalities < 2:
        raise ValueError(f"dependency={dependency!r} needs n_modalities >= 2.")
    if dependency == "mixed" and n_features < 3:
        raise ValueError("dependency='mixed' needs n_features >= 3.")
    rng = check_random_state(random_state)
    y = rng.randint(n_classes, size=n_samples)
    blocks = [rng.standard_normal((n_samples, n_features)) for _ in range(n_modalities)]

    first_intra = 0
    if dependency in ("inter", "mixed"):
        # Codes sum to y modulo n_classes: all but the last are free, the last closes.
        codes = rng.randint(n_classes, size=(n_samples, n_modalities))
        codes[:, -1] = (y - codes[:, :-1].sum(axis=1)) % n_classes
        angles = 2 * np.pi * codes / n_classes
        for k, block in enumerate(blocks):
            block[:, 0] = 2 * np.cos(angles[:, k]) + 0.5 * block[:, 0]
            block[:, 1] = 2 * np.sin(angles[:, k]) + 0.5 * block[:, 1]
        first_intra = 2
    if dependency in ("intra", "mixed"):
        separation = class_sep if dependency == "intra" else class_sep / 2
        n_informative = max(1, (n_features - first_intra) // 2)
        for block in blocks:
            centroids = rng.standard_normal((n_classes, n_informative)) * separation
            block[:, first_intra:first_intra + n_informative] += centroids[y]

    columns, modalities = [], []
    for k in range(n_modalities):
        names = [f"m{k}_x{j}" for j in range(n_features)]
        columns += names
        modalities.append((f"m{k}", MLPExpert(), names))
    X = pd.DataFrame(np.hstack(blocks), columns=columns)
    return X, y, modalities
