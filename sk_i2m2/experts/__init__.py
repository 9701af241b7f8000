"""Experts: what each factor of the product of experts looks like.

An expert is a small scikit-learn style parameter holder. It knows three things about
its modality:

* its default preprocessing (``preprocessor="auto"``), resolved when the
  :class:`~sk_i2m2.ModalitySplitter` is fitted;
* the shape its inputs take once preprocessed (:meth:`BaseExpert.input_shape`);
* how to :meth:`BaseExpert.build` a torch module from that shape to ``n_outputs``.

The same ``build`` serves twice: as the unimodal expert (``n_outputs`` = number of
classes) and, inside :class:`ConcatFusion`, as that modality's encoder in the
inter-modality expert (``n_outputs`` = the embedding size, with its own weights).
"""

# Besides ``__all__``, the other public names this module has always had (the default
# preprocessors, documented in the API reference, among them) and the private ones the
# benchmarks and tests reach (``_ConvNet``, ``_as_object``), as ``name as name``.
from ._base import BaseExpert
from ._base import image_preprocessor as image_preprocessor
from ._fusion import AttentionFusion, BaseFusion, ConcatFusion
from ._neural import AUTO_CHANNELS as AUTO_CHANNELS
from ._neural import AUTO_STRIDE as AUTO_STRIDE
from ._neural import CNNExpert, MLPExpert, SequenceExpert, TorchExpert
from ._neural import _ConvNet as _ConvNet
from ._neural import resolve_auto as resolve_auto
from ._preprocessing import ChannelScaler as ChannelScaler
from ._preprocessing import MedianImputeScaler as MedianImputeScaler
from ._preprocessing import _as_object as _as_object
from ._preprocessing import table_preprocessor
from ._pretrained import PretrainedExpert
from ._sklearn import AUTO_CANDIDATES as AUTO_CANDIDATES
from ._sklearn import AutoExpert, SklearnExpert
from ._sklearn import as_expert as as_expert
from ._sklearn import is_sklearn_estimator as is_sklearn_estimator
from ._visits import VisitsExpert

__all__ = [
    "AttentionFusion",
    "AutoExpert",
    "BaseExpert",
    "BaseFusion",
    "CNNExpert",
    "ConcatFusion",
    "MLPExpert",
    "PretrainedExpert",
    "SequenceExpert",
    "SklearnExpert",
    "TorchExpert",
    "VisitsExpert",
    "table_preprocessor",
]
