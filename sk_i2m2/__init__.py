"""sk_i2m2: I2M2 multimodal classifiers, regressors and survival models, the scikit-learn way.

I2M2 predicts from several modalities with a product of experts: one expert per
modality (intra-modality dependencies) times one fusion expert over all modalities
(inter-modality dependencies), trained jointly on one loss: the cross-entropy of a
product of categorical experts (:class:`I2M2Classifier`), the likelihood of a
product of Gaussian experts (:class:`I2M2Regressor`), or the partial likelihood of a
product of hazards (:class:`I2M2SurvivalAnalysis`).
"""

from ._classifier import I2M2Classifier
from ._input_profile import DataWarning
from ._persistence import load, save
from ._regressor import I2M2Regressor
from ._splitter import ModalitySplitter
from ._survival_analysis import I2M2SurvivalAnalysis
from ._version import __version__ as __version__

__all__ = ["DataWarning", "I2M2Classifier", "I2M2Regressor", "I2M2SurvivalAnalysis",
           "ModalitySplitter", "load", "save"]
