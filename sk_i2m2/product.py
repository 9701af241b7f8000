"""The product of experts: the one place where the experts' outputs become a prediction.

    p(y | x, x') ∝ q_x(y | x) · q_x'(y | x') · q_xx'(y | x, x')

Each factor is an expert with its own weights. How factors multiply is the task's
(:mod:`sk_i2m2._task`): for classification the combined log-probability is the sum
of the experts' ``log_softmax``, renormalised; for regression the product of the
experts' Gaussians is the precision-weighted Gaussian. Training (both stages),
prediction, calibration and ``explain`` all go through
:meth:`ProductOfExperts.combine`, so a change to the combination changes them alike.

A row may lack a modality. The splitter marks that by filling the row's block of that
modality with NaN; here the row then drops that modality's factors: its unimodal
expert is left out of the product, and the fusion expert is told through its
``present`` mask.

Scikit-learn classifiers among the experts (:class:`~sk_i2m2.experts.SklearnExpert`)
are not computed here: their outputs (log-probabilities, or a Gaussian) are given to
the module, beside the modalities.
"""

from typing import NamedTuple

import torch
from torch import nn

from ._names import FUSION as _FUSION
from ._task import as_task, combine_log_proba
from .augment import make_augmenter
from .experts import ConcatFusion

__all__ = ["FUSION", "ExpertOutputs", "ProductEnsemble", "ProductOfExperts",
           "build_product", "combine_log_proba"]

#: Name of the inter-modality expert.
FUSION = _FUSION  # its home is _names, which any module can import without a cycle


def presence(modalities):
    """``{name: (n,) bool}``: which rows hold each modality (missing rows are NaN)."""
    return {name: ~torch.isnan(x.reshape(len(x), -1)[:, 0]) for name, x in modalities.items()}


class ExpertOutputs(NamedTuple):
    """What every expert says about a batch, before the product.

    Attributes
    ----------
    logits : dict of str to Tensor
        ``(n, n_outputs)`` raw output per expert name (modality names and
        ``"fusion"``), in the module's expert order: logits over the classes, or a
        Gaussian's mean and log-variance.
    available : dict of str to Tensor
        ``(n,)`` boolean mask per expert: a unimodal expert sees the rows holding its
        modality; the fusion expert sees rows holding any modality.
    """

    logits: dict
    available: dict


class ProductOfExperts(nn.Module):
    """One torch module holding every expert of the product.

    Parameters
    ----------
    unimodal : dict of str to Module
        One intra-modality expert per modality name (empty for ``"inter"``).
    fusion : Module or None
        The inter-modality expert, called as ``fusion(inputs, present)`` with dicts
        of every modality's tensor and presence mask (see
        :class:`~sk_i2m2.experts.BaseFusion`); None for ``"intra"``.
    modality_dropout : float, default=0.0
        In training mode, the probability that a row loses each of its modalities
        (never all of them), so that the product learns to predict without it.
    sklearn_experts : tuple of str or dict of str to tuple of str, default=()
        Names of the experts that are fitted scikit-learn estimators; their outputs
        are given to the module. A dict maps each name to the modalities it reads:
        it sees the rows holding any of them (``("fusion",)``: any modality). A name
        alone reads its own modality (``"fusion"``: every modality).
    task : Task or None, default=None
        How the experts' outputs combine (:mod:`sk_i2m2._task`); None: classification.

    Notes
    -----
    Call it as ``module(modalities, sklearn_outputs)`` or, without scikit-learn
    experts, ``module(**modalities)``; either returns the combined prediction
    (for classification, log-probabilities).
    """

    def __init__(self, unimodal, fusion=None, modality_dropout=0.0, sklearn_experts=(),
                 task=None):
        super().__init__()
        if not unimodal and fusion is None and not sklearn_experts:
            raise ValueError("A product of experts needs at least one expert.")
        if fusion is not None and FUSION in sklearn_experts:
            raise ValueError("The fusion expert is either a module or a scikit-learn "
                             "classifier, not both.")
        self.unimodal = nn.ModuleDict(unimodal)
        self.fusion = fusion
        self.modality_dropout = modality_dropout
        sources = (dict(sklearn_experts) if isinstance(sklearn_experts, dict)
                   else {name: (name,) for name in sklearn_experts})
        self.sklearn_experts = tuple(sources)
        self.sklearn_sources = sources
        self.task = as_task(task)
        # Learnt per-expert weights and class biases (expert_weights="learn"); by
        # default none, as in I2M2: every expert counts once.
        self.register_buffer("expert_weights", None)
        self.register_buffer("class_bias", None)
        # Set after training by calibrate="temperature"; None: no temperature.
        self.register_buffer("temperature", None)

    # ------------------------------------------------------------------ state

    @property
    def trainable(self):
        """Whether any expert learns by gradient (fitted classifiers do not)."""
        return any(parameter.requires_grad for parameter in self.parameters())

    @property
    def expert_names(self):
        """Every expert's name, in the order of the product's terms."""
        fusion_level = [name for name in self.sklearn_experts
                        if name.startswith(FUSION + ":")]
        names = list(self.unimodal) + [name for name in self.sklearn_experts
                                       if name != FUSION and name not in fusion_level]
        has_fusion = self.fusion is not None or FUSION in self.sklearn_experts
        return names + ([FUSION] if has_fusion else []) + fusion_level

    def sklearn_source(self, name):
        """The modalities a scikit-learn expert reads (``("fusion",)``: every one)."""
        # Products saved before sklearn_sources existed: every name is its source.
        return getattr(self, "sklearn_sources", {}).get(name, (name,))

    def set_temperature(self, temperature):
        """Divide the product's log-probabilities by ``temperature`` (None: no division)."""
        self.temperature = (None if temperature is None
                            else torch.tensor(float(temperature), device=self._device()))
        return self

    def set_expert_weights(self, weights, bias):
        """Weigh each expert's term and add a bias per class (None, None: I2M2's product)."""
        self.expert_weights = None if weights is None else weights.to(self._device())
        self.class_bias = None if bias is None else bias.to(self._device())
        return self

    def term_weights(self):
        """``(n_experts,)`` multiplier of each expert's log-probability in the product.

        The product's score is ``sum_e term_weights[e] * log q_e`` plus a bias per
        class: 1 per expert in I2M2, learnt weights and the temperature otherwise.
        """
        weights = (torch.ones(len(self.expert_names)) if self.expert_weights is None
                   else self.expert_weights.detach().cpu().double())
        return weights if self.temperature is None else weights / float(self.temperature)

    def _device(self):
        tensor = next(iter(self.parameters()), None)
        return torch.device("cpu") if tensor is None else tensor.device

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # The optional buffers exist once learnt or fitted: make room for those the
        # state holds, so that a saved product loads into a freshly built one (alone
        # or as a member of an ensemble).
        for name in ("expert_weights", "class_bias", "temperature"):
            if prefix + name in state_dict and getattr(self, name) is None:
                setattr(self, name, torch.empty_like(state_dict[prefix + name]))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ------------------------------------------------------------------ forward

    def _drop_modalities(self, present):
        kept = {name: mask & (torch.rand(mask.shape, device=mask.device)
                              >= self.modality_dropout)
                for name, mask in present.items()}
        # A row that would lose every modality keeps what it had.
        emptied = ~torch.stack(list(kept.values())).any(dim=0)
        return {name: kept[name] | (emptied & present[name]) for name in present}

    def expert_outputs(self, modalities, sklearn_outputs=None):
        """Each expert's logits and the rows it sees.

        Parameters
        ----------
        modalities : dict of str to Tensor
            ``(n, *sample_shape)`` per modality; NaN rows lack the modality.
        sklearn_outputs : dict of str to Tensor or None
            ``(n, n_outputs)`` outputs of each scikit-learn expert; NaN rows are
            those it cannot see.

        Returns
        -------
        ExpertOutputs
        """
        present = presence(modalities)
        if self.training and self.modality_dropout:
            present = self._drop_modalities(present)
        # Missing rows enter the experts as zeros; their outputs are masked later.
        inputs = {name: torch.where(mask.view(-1, *[1] * (modalities[name].dim() - 1)),
                                    modalities[name], 0.0)
                  for name, mask in present.items()}
        any_present = torch.stack(list(present.values())).any(dim=0)
        logits = {name: expert(inputs[name]) for name, expert in self.unimodal.items()}
        available = {name: present[name] for name in self.unimodal}
        for name in self.sklearn_experts:
            source = self.sklearn_source(name)
            rows = (any_present if source == (FUSION,) else
                    torch.stack([present[each] for each in source]).any(dim=0))
            # Rows the classifier cannot see hold NaN; they are masked out below.
            logits[name] = torch.where(rows.unsqueeze(1), sklearn_outputs[name], 0.0)
            available[name] = rows
        if self.fusion is not None:
            logits[FUSION] = self.fusion(inputs, present)
            available[FUSION] = any_present
        order = self.expert_names
        return ExpertOutputs({name: logits[name] for name in order},
                             {name: available[name] for name in order})

    def combine(self, outputs):
        """The product of the experts' outputs, ``(n, n_outputs)``, as the task combines them."""
        return self.task.combine(outputs.logits, outputs.available,
                                 weights=self.expert_weights, bias=self.class_bias,
                                 temperature=self.temperature)

    def terms(self, outputs):
        """Each expert's additive term in the prediction, when the task has them."""
        return self.task.terms(outputs.logits, outputs.available,
                               weights=self.expert_weights)

    def forward_experts(self, modalities, sklearn_outputs=None, with_terms=False):
        """``(ExpertOutputs, combined prediction)`` in one pass.

        With ``with_terms``, a third item: each expert's terms in the prediction
        (:meth:`terms`; None for tasks without them).
        """
        outputs = self.expert_outputs(modalities, sklearn_outputs)
        if with_terms:
            return outputs, self.combine(outputs), self.terms(outputs)
        return outputs, self.combine(outputs)

    def forward(self, modalities=None, sklearn_outputs=None, /, **named_modalities):
        """The product's combined prediction, ``(n, n_outputs)``.

        Takes the modalities as one dict (with the scikit-learn experts'
        log-probabilities as a second) or as keywords.
        """
        if modalities is None:
            modalities = named_modalities
        return self.combine(self.expert_outputs(modalities, sklearn_outputs))


class ProductEnsemble(nn.Module):
    """A cross-fitted ensemble of products, averaged as its task averages.

    Each member is a :class:`ProductOfExperts` of the same experts, trained on its own
    share of the rows (``n_bags`` in :class:`~sk_i2m2.I2M2Classifier`). Each member's
    own product is computed by :meth:`ProductOfExperts.combine`; the ensemble
    averages the members' predictions with its task's ``average`` (for
    classification the mean of the probabilities, for regression the mixture of
    the Gaussians). A fitted calibration (``temperature``) is applied to that
    average (dividing the log of the mean probabilities, then renormalised; or
    scaling the mixture's variance), so, as for one product, it changes no
    prediction.

    Parameters
    ----------
    members : list of ProductOfExperts
    """

    def __init__(self, members):
        super().__init__()
        if not members:
            raise ValueError("An ensemble needs at least one member.")
        self.members = nn.ModuleList(members)
        # Set after training by calibrate; None: no temperature.
        self.register_buffer("temperature", None)

    @property
    def trainable(self):
        return any(member.trainable for member in self.members)

    @property
    def expert_names(self):
        return self.members[0].expert_names

    @property
    def task(self):
        return self.members[0].task

    def set_temperature(self, temperature):
        """Calibrate the members' average with ``temperature`` (None: not at all)."""
        device = self.members[0]._device()
        self.temperature = (None if temperature is None
                            else torch.tensor(float(temperature), device=device))
        return self

    def term_weights(self):
        """As :meth:`ProductOfExperts.term_weights`; the members' are alike."""
        weights = self.members[0].term_weights()
        return weights if self.temperature is None else weights / float(self.temperature)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        if prefix + "temperature" in state_dict and self.temperature is None:
            self.temperature = torch.empty_like(state_dict[prefix + "temperature"])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _average(self, predictions):
        """The members' predictions averaged, calibrated."""
        average = self.task.average(predictions)
        if self.temperature is None:
            return average
        return self.task.temper(average, self.temperature)

    def forward_experts(self, modalities, sklearn_outputs=None, with_terms=False):
        """Each expert's output and the product's, averaged over the members.

        Returns
        -------
        outputs : ExpertOutputs
            Each expert's outputs averaged over the members as the task averages
            (for classification: the log of its mean probabilities).
        combined : Tensor
            The members' averaged products, calibrated.
        terms : dict of str to Tensor or None
            Only with ``with_terms``: the mean of the members' terms.
        """
        per_member = [member.forward_experts(modalities, sklearn_outputs, with_terms)
                      for member in self.members]
        first = per_member[0][0]
        logits = {name: self.task.average([self.task.normalise(member[0].logits[name])
                                           for member in per_member])
                  for name in first.logits}
        combined = self._average([member[1] for member in per_member])
        outputs = ExpertOutputs(logits, first.available)
        if not with_terms:
            return outputs, combined
        terms = per_member[0][2]
        if terms is not None:
            terms = {name: torch.stack([member[2][name] for member in per_member]).mean(dim=0)
                     for name in terms}
        return outputs, combined, terms

    def forward(self, modalities=None, sklearn_outputs=None, /, **named_modalities):
        """The members' averaged prediction, ``(n, n_outputs)``."""
        if modalities is None:
            modalities = named_modalities
        return self._average([member(modalities, sklearn_outputs)
                              for member in self.members])


def _builder(expert, preprocessor):
    """What builds a modality's networks: the expert, given its fitted preprocessing."""
    with_preprocessing = getattr(expert, "with_preprocessing", None)
    return expert if with_preprocessing is None else with_preprocessing(preprocessor)


def build_product(splitter, dependencies, fusion, task, modality_dropout=0.0,
                  sklearn_experts=()):
    """The torch module of the product, from a fitted :class:`~sk_i2m2.ModalitySplitter`.

    Parameters
    ----------
    splitter : ModalitySplitter
        Fitted; gives each modality's expert and sample shape.
    dependencies : {"both", "intra", "inter"}
        ``"intra"``: one expert per modality; ``"inter"``: the fusion expert alone;
        ``"both"``: all of them (I2M2).
    fusion : BaseFusion or None
        The fusion expert (None: :class:`~sk_i2m2.experts.ConcatFusion`); not built
        when it is a scikit-learn estimator (named in ``sklearn_experts``).
    task : Task or int
        The fitted task (:mod:`sk_i2m2._task`): its ``n_outputs`` is every expert's
        output width. An int is a number of classes.
    modality_dropout : float, default=0.0
    sklearn_experts : tuple of str or dict of str to tuple of str, default=()
        The experts that are fitted scikit-learn estimators, and what each sees
        (see :class:`ProductOfExperts` and
        :class:`~sk_i2m2._sklearn_experts.SklearnExperts`).

    Returns
    -------
    ProductOfExperts
        Its ``augmenters`` attribute maps each modality whose expert has an
        ``augment`` to what transforms its training batches (see
        :mod:`sk_i2m2.augment`); the net applies them.
    """
    task = as_task(task)
    n_outputs = task.n_outputs
    specs = {name: (_builder(expert, splitter.preprocessors_[name]),
                    splitter.sample_shapes_[name])
             for name, expert, _ in splitter.modalities_}
    unimodal = {}
    if dependencies in ("intra", "both"):
        unimodal = {name: expert.build(shape, n_outputs)
                    for name, (expert, shape) in specs.items()
                    if name not in sklearn_experts and expert.neural}
    fusion_module = None
    if dependencies in ("inter", "both") and FUSION not in sklearn_experts:
        fusion = ConcatFusion() if fusion is None else fusion
        fusion_module = fusion.build(specs, n_outputs)
    module = ProductOfExperts(unimodal, fusion_module, modality_dropout=modality_dropout,
                              sklearn_experts=sklearn_experts, task=task)
    # Not part of the product: what the net does to training batches before them.
    module.augmenters = {
        name: make_augmenter(expert.augment, shape, name)
        for name, (expert, shape) in specs.items()
        if getattr(expert, "augment", None) is not None
    }
    return module
