"""Attributions: how much each input column moved an expert's contribution.

:meth:`~sk_i2m2.I2M2Classifier.explain` says how much each expert contributed to a
prediction; ``explain(X, by="column")`` splits each neural expert's contribution
among the columns it reads, by integrated gradients (Sundararajan, Taly and Yan,
"Axiomatic Attribution for Deep Networks", ICML 2017): along the straight path from
a baseline input ``x0`` to the row's input ``x``,

    attribution_i = (x_i - x0_i) * mean over the path of d contribution / d x_i,

in the expert's preprocessed inputs. The attributions of a row then sum to the
expert's contribution at ``x`` minus its contribution at ``x0`` (completeness), up to
the error of the path's quadrature (the trapezoidal rule over ``steps`` intervals):
within 0.05 or 5% of the difference, whichever is larger, at the default 64 steps
on the package's tests.

The baseline is a typical training row after preprocessing: each numeric input's
median, and each one-hot encoded column's most frequent category, over up to
:data:`BASELINE_ROWS` training rows (:func:`training_baseline`); for images and
series, zeros (the training mean, after their standardisation). Attributions of
expanded inputs (a category's one-hot columns) are summed back to the column they
come from (:func:`feature_sources`).
"""

import numpy as np
import torch
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

#: The baseline is computed on at most this many training rows (a median needs no
#: more, and a table of millions of rows would otherwise be copied).
BASELINE_ROWS = 10_000
#: The most intervals of the integration path by default.
STEPS = 64
#: The integration's first pass takes about this many intervals (see
#: :func:`integrated_gradients`), then doubles them for the rows not yet done.
FIRST_STEPS = 8
#: A row's integral is done when its attributions add up to the change of the score
#: within this, absolute or relative to the change, whichever is larger: 2.5 times
#: tighter than the completeness the documentation states, and about what 64
#: intervals for every row reached (their largest gap on 5 draws of the default
#: scans task: 1.7% of the change). There, ``explain(X, by="column")`` took 5.3
#: times less time than with 64 intervals for every row
#: (benchmarks/results/cpu_time.md).
TOLERANCE = 0.02


def _n_outputs(transformer, n_inputs):
    """How many features ``transformer`` outputs for ``n_inputs`` inputs, or None."""
    if transformer in ("passthrough", None):
        return n_inputs
    try:
        return len(transformer.get_feature_names_out())
    except Exception:  # noqa: BLE001 - not every transformer names its outputs
        return None


def feature_sources(preprocessor, n_inputs, n_outputs=None):
    """For each output feature of a fitted preprocessor, the input column it comes from.

    Parameters
    ----------
    preprocessor : transformer or "passthrough"
        Fitted.
    n_inputs : int
        Columns it was fitted on.
    n_outputs : int or None
        Features it outputs, when known.

    Returns
    -------
    ndarray of int of shape (n_outputs,), or None
        The input position of each output; None when it cannot be told (then each
        output is its own column).
    """
    if isinstance(preprocessor, ColumnTransformer):
        sources = []
        for name, transformer, _ in preprocessor.transformers_:
            columns = np.asarray(preprocessor._transformer_to_input_indices.get(name, []),
                                 dtype=int)
            if transformer == "drop" or not len(columns):
                continue
            inner = feature_sources(transformer, len(columns))
            if inner is None:
                return None
            sources.extend(columns[inner])
        sources = np.asarray(sources, dtype=int)
    elif isinstance(preprocessor, Pipeline):
        sources = np.arange(n_inputs)
        for _, step in preprocessor.steps:
            inner = feature_sources(step, len(sources))
            if inner is None:
                return None
            sources = sources[inner]
    elif isinstance(preprocessor, OneHotEncoder):
        counts = getattr(preprocessor, "_n_features_outs", None)
        if counts is None:
            return None
        sources = np.repeat(np.arange(len(counts)), counts)
    else:
        produced = _n_outputs(preprocessor, n_inputs) if n_outputs is None else n_outputs
        if produced == n_inputs:
            sources = np.arange(n_inputs)
        elif n_inputs == 1 and produced is not None:  # e.g. a path column -> an image
            sources = np.zeros(produced, dtype=int)
        else:
            return None
    if n_outputs is not None and len(sources) != n_outputs:
        return None
    return sources


def training_baseline(Z, sources):
    """A typical preprocessed training row: medians, and the most frequent category.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Preprocessed training rows (NaN rows lack the modality).
    sources : ndarray of int of shape (n_features,) or None
        :func:`feature_sources`: features coming from one column form a group.

    Returns
    -------
    ndarray of float32 of shape (n_features,)
    """
    Z = np.asarray(Z[:BASELINE_ROWS], dtype=np.float64)
    Z = Z[~np.isnan(Z).all(axis=1)]
    if not len(Z):
        return np.zeros(Z.shape[1], dtype=np.float32)
    baseline = np.nanmedian(Z, axis=0)
    if sources is not None:
        for source in np.unique(sources):
            group = np.flatnonzero(sources == source)
            values = Z[:, group]
            if len(group) > 1 and np.isin(values[~np.isnan(values)], (0.0, 1.0)).all():
                # One-hot columns: the most frequent category, not a median of zeros.
                baseline[group] = 0.0
                baseline[group[np.nanargmax(np.nanmean(values, axis=0))]] = 1.0
    return np.nan_to_num(baseline).astype(np.float32)


def attribution_baselines(splitter, modalities):
    """``{modality: baseline}``: a typical preprocessed training row of each modality.

    A table's medians and most frequent categories (:func:`training_baseline`);
    zeros for images and series, whose standardisation makes zero the training
    mean. ``modalities`` is the fitted splitter's transform of the training rows.
    """
    baselines = {}
    for name, _, indices in splitter.modalities_:
        Z = modalities[name]
        preprocessor = splitter.preprocessors_[name]
        if hasattr(preprocessor, "attribution_baseline"):  # its own (histories)
            baselines[name] = preprocessor.attribution_baseline()
        elif isinstance(Z, np.ndarray) and Z.ndim == 2:
            sources = feature_sources(splitter.preprocessors_[name], len(indices), Z.shape[1])
            baselines[name] = training_baseline(Z, sources)
        else:
            baselines[name] = np.zeros(Z.shape[1:], dtype=np.float32)
    return baselines


def _first_intervals(steps):
    """Intervals of the first pass: ``steps`` halved while it stays even and >= FIRST_STEPS.

    Doubling from there reaches ``steps`` exactly, every pass reusing the points of
    the last (the trapezoidal rule's points nest).
    """
    intervals = steps
    while intervals % 2 == 0 and intervals // 2 >= FIRST_STEPS:
        intervals //= 2
    return intervals


def integrated_gradients(score, inputs, baselines, steps=STEPS):
    """Integrated gradients of a per-row score along the straight path.

    The path integral is taken by the trapezoidal rule, per row with as few
    intervals as its completeness needs: first with ``steps`` halved down to about
    :data:`FIRST_STEPS`, then with twice as many (the new points only, between the
    old ones) for the rows whose attributions do not yet add up to the change of the
    score within :data:`TOLERANCE`, until ``steps``. A network of ReLUs has kinks
    along the path, where the gradient jumps: the error then falls as
    ``1 / steps`` (Gauss-Legendre points did no better here), and most rows are
    done long before the last doubling.

    Parameters
    ----------
    score : callable
        ``score({name: (m, ...) tensor}, rows) -> (m,)`` tensor, differentiable:
        the score of the rows ``rows`` (an index tensor into the ``n`` rows) at
        the given inputs.
    inputs, baselines : dict of str to Tensor
        The rows' inputs and the baselines (broadcastable to them).
    steps : int, default=STEPS
        The most intervals of the trapezoidal rule.

    Returns
    -------
    attributions : dict of str to Tensor
        Of the inputs' shapes.
    at_input, at_baseline : Tensor of shape (n,)
        The score at the inputs and at the baselines.
    """
    baselines = {name: baselines[name].expand_as(values) for name, values in inputs.items()}
    n = len(next(iter(inputs.values())))
    device = next(iter(inputs.values())).device
    totals = {name: torch.zeros_like(values) for name, values in inputs.items()}

    def add_gradients(alphas, rows, weight=1.0):
        """Add ``weight`` x the rows' gradients at each of ``alphas`` along the path.

        The points of all ``alphas`` go through the network in one pass, as rows
        repeated once per point; returns the scores, point after point.
        """
        repeated = rows.repeat(len(alphas))
        scale = torch.as_tensor(alphas, dtype=torch.float32, device=device)
        scale = scale.repeat_interleave(len(rows))
        path = {}
        for name in inputs:
            start = baselines[name][repeated]
            along = scale.view(-1, *[1] * (start.dim() - 1))
            path[name] = (start + along * (inputs[name][repeated] - start)).detach()
            path[name].requires_grad_(True)
        with torch.enable_grad():
            values = score(path, repeated)
            gradients = torch.autograd.grad(values.sum(), list(path.values()),
                                            allow_unused=True)
        for name, gradient in zip(path, gradients, strict=True):
            if gradient is not None:
                totals[name].index_add_(0, repeated, gradient.detach(), alpha=weight)
        return values.detach()

    def add_points(alphas, rows):
        """:func:`add_gradients` of ``alphas``, about ``n`` rows' worth per pass.

        Few rows left to refine would otherwise make many small passes, each
        paying the networks' fixed cost per call.
        """
        per_pass = max(1, n // len(rows))
        for first in range(0, len(alphas), per_pass):
            add_gradients(alphas[first:first + per_pass], rows)

    every = torch.arange(n, device=device)
    at_baseline = add_gradients([0.0], every, 0.5)
    at_input = add_gradients([1.0], every, 0.5)
    intervals = _first_intervals(steps)
    add_points([k / intervals for k in range(1, intervals)], every)
    row_intervals = torch.full((n,), float(intervals), device=device)
    rows = every
    while True:
        attributions = {
            name: (inputs[name] - baselines[name]) * totals[name]
            / row_intervals.view(-1, *[1] * (totals[name].dim() - 1))
            for name in inputs}
        change = at_input[rows] - at_baseline[rows]
        added = sum(values[rows].reshape(len(rows), -1).sum(dim=1)
                    for values in attributions.values())
        done = (added - change).abs() <= TOLERANCE * change.abs().clamp(min=1.0)
        rows = rows[~done]
        if not len(rows) or intervals * 2 > steps:
            return attributions, at_input, at_baseline
        # Twice the intervals for the rows not done: the new points lie halfway
        # between the old ones, whose gradients are already summed.
        add_points([(2 * k + 1) / (2 * intervals) for k in range(intervals)], rows)
        intervals *= 2
        row_intervals[rows] = float(intervals)


# ---------------------------------------------------------------------- estimators


def _members(module):
    return list(getattr(module, "members", [module]))


def expert_attributions(estimator, batch, experts, steps=STEPS):
    """Integrated gradients of each expert's contribution, for one chunk of rows.

    Parameters
    ----------
    estimator : fitted I2M2 estimator
        Its task (``task_``) gives what the contribution is of
        (``attribution_target``) and the contribution, differentiable.
    batch : Batch
        A chunk of ``estimator._batches(X)``.
    experts : list of str
        Names of neural experts to attribute.
    steps : int

    Returns
    -------
    target : Tensor or None
        What the contributions are of (the predicted class), per row.
    combined : Tensor
        The product's prediction of the rows.
    results : dict of str to (attributions, at_input, at_baseline, seen)
        Per expert: ``{modality: (n, *sample_shape)}`` attributions, its contribution
        at the rows and at the baseline, and the rows it sees.
    """
    from ._names import FUSION
    from .product import presence

    module = estimator.net_.module_
    members = _members(module)
    device = next(iter(module.parameters())).device
    modalities = {name: torch.as_tensor(np.asarray(values), dtype=torch.float32).to(device)
                  for name, values in batch.modalities.items()}
    sklearn_outputs = {name: torch.as_tensor(values).to(device)
                       for name, values in batch.sklearn_outputs.items()}
    module.eval()
    with torch.no_grad():
        combined = module(modalities, sklearn_outputs)
        fixed = [member.expert_outputs(modalities, sklearn_outputs) for member in members]
    task = estimator.task_
    target = task.attribution_target(combined)
    present = presence(modalities)
    clean = {name: torch.where(mask.view(-1, *[1] * (modalities[name].dim() - 1)),
                               modalities[name], 0.0)
             for name, mask in present.items()}
    baselines = {}
    for name, mask in present.items():
        typical = torch.as_tensor(estimator.attribution_baselines_[name], device=device)
        baseline = torch.where(mask.view(-1, *[1] * typical.dim()), typical, 0.0)
        # NaN in a baseline: the row's own value (a history's visit schedule), so that
        # the path changes the values alone.
        baselines[name] = torch.where(torch.isnan(baseline), clean[name], baseline)
    results = {}
    for expert in experts:
        reads = list(modalities) if expert == FUSION else [expert]

        def score(path, rows, expert=expert):
            inputs = {**{name: values[rows] for name, values in clean.items()}, **path}
            shown = {name: mask[rows] for name, mask in present.items()}
            outputs, available = [], []
            for member, outputs_m in zip(members, fixed, strict=True):
                raw = (member.fusion(inputs, shown) if expert == FUSION
                       else member.unimodal[expert](inputs[expert]))
                outputs.append({**{name: logits[rows] for name, logits
                                   in outputs_m.logits.items()}, expert: raw})
                available.append({name: mask[rows] for name, mask
                                  in outputs_m.available.items()})
            return task.contribution(module, outputs, available, expert,
                                     None if target is None else target[rows])

        attributions, at_input, at_baseline = integrated_gradients(
            score, {name: clean[name] for name in reads},
            {name: baselines[name] for name in reads}, steps)
        results[expert] = ({name: values.cpu() for name, values in attributions.items()},
                           at_input.cpu(), at_baseline.cpu(), fixed[0].available[expert].cpu())
    return target, combined.cpu(), results


def column_sources(splitter, modality, n_features):
    """``(names of the columns, source of each preprocessed feature)`` of a modality.

    A preprocessor with its own ``column_sources`` (histories: the visits' columns,
    each channel of a visit) says them itself.
    """
    preprocessor = splitter.preprocessors_[modality]
    if hasattr(preprocessor, "column_sources"):
        return preprocessor.column_sources()
    indices = next(indices for name, _, indices in splitter.modalities_ if name == modality)
    names = getattr(splitter, "feature_names_in_", None)
    columns = [names[i] if names is not None else i for i in indices]
    sources = feature_sources(splitter.preprocessors_[modality], len(indices), n_features)
    if sources is None:  # features that cannot be traced back stand for themselves
        return list(splitter.feature_names_out_[modality]), np.arange(n_features)
    return columns, sources


def column_table(estimator, X, steps=STEPS):
    """The long table of ``explain(X, by="column")`` (see the faces' ``explain``).

    Scikit-learn experts have no gradients: their rows have NaN attributions (and
    contributions), so that the table still lists every expert.
    """
    import pandas as pd

    from ._names import FUSION

    module = estimator.net_.module_
    fitted = set(_members(module)[0].sklearn_experts)
    every = list(module.expert_names)
    experts = [name for name in every if name not in fitted]
    splitter = estimator.splitter_
    index = np.asarray(X.index if hasattr(X, "iloc") else np.arange(len(X)), dtype=object)
    frames, start = [], 0
    for batch in estimator._batches(X):
        target, combined, results = expert_attributions(estimator, batch, experts, steps)
        n = len(combined)
        labels = index[start:start + n]
        predicted = estimator.task_.attribution_label(combined, target)
        for expert, (attributions, at_input, at_baseline, seen) in results.items():
            for modality, values in attributions.items():
                flat = values.reshape(n, -1).double().numpy()
                columns, sources = column_sources(splitter, modality, flat.shape[1])
                if len(sources) < flat.shape[1]:  # a history: summed over its visits
                    flat = flat.reshape(n, -1, len(sources)).sum(axis=1)
                summed = np.zeros((n, len(columns)))
                np.add.at(summed.T, sources, flat.T)
                shown = seen.numpy()
                if expert != FUSION:
                    summed[~shown] = np.nan
                else:  # the fusion expert sees every row, without its missing modalities
                    lacking = np.isnan(np.asarray(batch.modalities[modality],
                                                  dtype=np.float64).reshape(n, -1)[:, 0])
                    summed[lacking] = np.nan
                frames.append(pd.DataFrame({
                    "sample": np.repeat(labels, len(columns)),
                    "predicted": np.repeat(predicted, len(columns)),
                    "expert": expert,
                    "modality": modality,
                    "column": np.tile(np.asarray(columns, dtype=object), n),
                    "attribution": summed.ravel(),
                    "contribution": np.repeat(np.where(shown, at_input.double().numpy(),
                                                       0.0), len(columns)),
                    "baseline_contribution": np.repeat(
                        np.where(shown, at_baseline.double().numpy(), 0.0), len(columns)),
                }))
        for expert in fitted:
            source = _members(module)[0].sklearn_source(expert)
            for modality in (batch.modalities if source == (FUSION,) else source):
                width = int(np.prod(splitter.sample_shapes_[modality]))
                columns, _ = column_sources(splitter, modality, width)
                frames.append(pd.DataFrame({
                    "sample": np.repeat(labels, len(columns)),
                    "predicted": np.repeat(predicted, len(columns)),
                    "expert": expert, "modality": modality,
                    "column": np.tile(np.asarray(columns, dtype=object), n),
                    "attribution": np.nan, "contribution": np.nan,
                    "baseline_contribution": np.nan}))
        start += n
    columns = ["sample", "predicted", "expert", "modality", "column", "attribution",
               "contribution", "baseline_contribution"]
    if not frames:
        return pd.DataFrame(columns=columns)
    table = pd.concat(frames, ignore_index=True)
    # Sample by sample, experts in the product's order: as explain's own table.
    order = {name: k for k, name in enumerate(every)}
    table["_sample"] = pd.Categorical(table["sample"], categories=pd.unique(index),
                                      ordered=True)
    table["_expert"] = table["expert"].map(order)
    table = table.sort_values(["_sample", "_expert"], kind="stable")
    return table.drop(columns=["_sample", "_expert"]).reset_index(drop=True)[columns]
