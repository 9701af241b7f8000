"""What depends on the task: one object per task, behind one interface.

The product of experts, its training, its ensemble, its calibration and its
scikit-learn experts are written once; what they do that depends on what is
predicted is asked of a :class:`Task`:

* :class:`ClassificationTask`: each expert gives logits over the classes, the
  product is the renormalised sum of their log-probabilities, the loss the
  cross-entropy, an ensemble averages probabilities, calibration is a temperature;
* :class:`GaussianTask`: each expert gives a Gaussian (a mean and a log-variance)
  of the standardised target, the product is the precision-weighted Gaussian, the
  loss the Gaussian negative log-likelihood, an ensemble is a mixture, calibration
  scales the variance;
* :class:`CoxTask`: each expert gives a log-risk, the product is their sum (a
  product of hazards), the loss the Cox partial likelihood (Efron's ties), an
  ensemble averages log-risks, calibration is a temperature, and a Breslow baseline
  hazard fitted after training gives survival curves; :class:`DiscreteTimeTask`
  (``loss="discrete"``): per-interval hazard logits that add.

A new task (e.g. time to event) is one new module here and one estimator face over
:class:`~sk_i2m2._base.BaseI2M2`.
"""

from numbers import Integral

from ._base import Task
from ._classification import ClassificationTask, combine_log_proba
from ._gaussian import GaussianNLLLoss, GaussianTask
from ._survival import CoxPartialLikelihoodLoss, CoxTask, DiscreteTimeTask

__all__ = ["ClassificationTask", "CoxPartialLikelihoodLoss", "CoxTask", "DiscreteTimeTask",
           "GaussianNLLLoss", "GaussianTask", "Task", "as_task", "combine_log_proba"]


def as_task(task):
    """A task as given; an int ``n`` is classification over ``n`` classes, None over
    classes yet to be fitted (the torch module's default, as in I2M2)."""
    if task is None:
        return ClassificationTask()
    if isinstance(task, Integral):
        return ClassificationTask(range(task))
    return task
