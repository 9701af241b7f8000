"""Images read from files: one path per row, one array of ``input_shape`` per image.

A clinical table usually names each patient's scan by its path. An expert given a
``loader`` (e.g. ``CNNExpert(input_shape=(1, 64, 64), loader="auto")``) reads such a
column: the images are read batch by batch while the model trains, never all at
once, so memory is bounded by the batch and not by the cohort.

Reading an image is three steps, each a parameter of :class:`ImageLoader`: read the
file into an array (by file type, or with your own function), bring it to the
expert's ``(channels, height, width)``, or ``(channels, depth, height, width)`` for a
volume, and scale its intensities.

Volumes come from NIfTI files (:func:`read_nifti`), folders of DICOM slices
(:func:`read_dicom_series`), enhanced multi-frame DICOM files (:func:`read_dicom`)
and 3-D ``.npy`` arrays, NIfTI and DICOM alike in the closest canonical RAS+ voxel
order; :func:`read_volume` also gives their voxel spacing, which :class:`ImageLoader`
can resample to (``spacing=``). :func:`save_like` writes a map of the expert's
``input_shape`` (an attribution map) back on a scan's grid, as NIfTI.
"""

from ._loader import (
    ChannelConversionWarning,
    ImageLoader,
    UnsupportedImageType,
    read_dicom,
    read_dicom_series,
    read_image,
    read_nifti,
    read_npy,
    read_pillow,
    read_volume,
)
from ._save import save_like

__all__ = ["ChannelConversionWarning", "ImageLoader", "UnsupportedImageType", "read_dicom",
           "read_dicom_series", "read_image", "read_nifti", "read_npy", "read_pillow",
           "read_volume", "save_like"]
