"""sk_i2m2: I2M2 multimodal classifiers, the scikit-learn way.

I2M2 predicts from several modalities with a product of experts: one classifier per
modality (intra-modality dependencies) times one fusion classifier over all
modalities (inter-modality dependencies), trained jointly on one cross-entropy.
"""

from ._classifier import I2M2Classifier
from ._persistence import load, save
from ._splitter import ModalitySplitter
from ._version import __version__ as __version__

__all__ = ["I2M2Classifier", "ModalitySplitter", "load", "save"]
