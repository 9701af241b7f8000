"""Type aliases of the public API's hints."""

import os
from typing import IO, TypeAlias

import numpy.typing as npt
import pandas as pd

#: What ``fit`` and ``predict`` take as ``X``: a DataFrame (columns by name) or
#: anything numpy reads as a 2-D array.
MatrixLike: TypeAlias = pd.DataFrame | npt.ArrayLike
#: Labels, weights: anything numpy reads as a 1-D array.
VectorLike: TypeAlias = pd.Series | npt.ArrayLike
#: A file name or an open binary file.
PathOrFile: TypeAlias = str | os.PathLike | IO[bytes]
