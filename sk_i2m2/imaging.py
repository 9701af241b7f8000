"""Images read from files: one path per row, one array of ``input_shape`` per image.

A clinical table usually names each patient's scan by its path. An expert given a
``loader`` (e.g. ``CNNExpert(input_shape=(1, 64, 64), loader="auto")``) reads such a
column: the images are read batch by batch while the model trains, never all at
once, so memory is bounded by the batch and not by the cohort.

Reading an image is three steps, each a parameter of :class:`ImageLoader`: read the
file into an array (by file type, or with your own function), bring it to the
expert's ``(channels, height, width)``, and scale its intensities.
"""

import os
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

__all__ = ["ImageLoader", "read_dicom", "read_image", "read_npy", "read_pillow"]

PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}
DICOM_SUFFIXES = {".dcm", ".dicom"}


def _missing_extra(package, error):
    return ImportError(
        f"Reading these images needs {package}: pip install 'sk-i2m2[imaging]' "
        f"({error})."
    )


def read_npy(path: str | os.PathLike) -> np.ndarray:
    """A NumPy ``.npy`` array, as saved (no pickled objects)."""
    return np.load(path, allow_pickle=False)


def read_pillow(path: str | os.PathLike) -> np.ndarray:
    """A PNG, JPEG, TIFF, BMP, GIF or WebP image, as ``(H, W)`` or ``(H, W, channels)``.

    The image is turned upright as its EXIF ``Orientation`` tag says (a photo taken
    with the camera held sideways comes out as it was seen, its height and width
    swapped where needed). Palette and 1-bit images are expanded to RGB and 8-bit
    grey; 16-bit and floating-point grey images keep their values.
    """
    try:
        from PIL import Image, ImageOps
    except ImportError as error:  # pragma: no cover - the imaging extra is missing
        raise _missing_extra("Pillow", error) from error
    with Image.open(path) as image:
        # Cameras store the sensor's pixels as they were read and record the rotation
        # in EXIF; viewers apply it, so the network should see the same upright image.
        image = ImageOps.exif_transpose(image)
        if image.mode == "P":
            image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        elif image.mode == "1":
            image = image.convert("L")
        return np.asarray(image)


def _is_identity_rescale(dataset):
    """Whether the only modality transform is ``RescaleSlope`` 1, ``RescaleIntercept`` 0."""
    if dataset.get("ModalityLUTSequence"):
        return False
    return (float(dataset.get("RescaleSlope", 1) or 1) == 1
            and float(dataset.get("RescaleIntercept", 0) or 0) == 0)


def _invert(pixels):
    """``max + min - pixels`` over the image, in the image's own type."""
    low, high = pixels.min(), pixels.max()
    if np.issubdtype(pixels.dtype, np.integer):
        # int64 arithmetic: ``high + low`` can overflow a 16-bit type, while the
        # result stays within [low, high] and so fits the original type again.
        return (int(high) + int(low) - pixels.astype(np.int64)).astype(pixels.dtype)
    return high + low - pixels


def read_dicom(path: str | os.PathLike) -> np.ndarray:
    """A single-frame DICOM image's pixels in modality units, higher values brighter.

    The modality transform is applied with :func:`pydicom.pixels.apply_modality_lut`:
    ``RescaleSlope``/``RescaleIntercept`` (e.g. Hounsfield units for CT; the result
    is float64) or a Modality LUT Sequence (the LUT's uint8 or uint16 values). An
    identity rescale (slope 1, intercept 0) keeps the stored integer type, as a file
    without one does. ``MONOCHROME1`` images, where low values display white, are
    then inverted to ``max + min - pixels`` over the image, so that, as in
    ``MONOCHROME2``, higher values are brighter; the range is kept, the modality
    units of each value are not. Colour images (e.g. RGB) come as ``(H, W, 3)``.

    Multi-frame files (``NumberOfFrames`` > 1: cine loops, volumes, echoes) are
    refused with a ValueError: whether their frames are time points, slices or
    channels is the study's to say, and an expert takes one 2-D image. Give
    ``ImageLoader(reader=...)`` a function that picks or stacks the frames.
    """
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError as error:  # pragma: no cover - the imaging extra is missing
        raise _missing_extra("pydicom>=3.0", error) from error
    dataset = pydicom.dcmread(path)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        # Checked before pixel_array, which would decode every frame of what may be a
        # long cine loop only for the file to be refused.
        raise ValueError(
            f"the DICOM file has {frames} frames; read_dicom reads single-frame "
            "images. Give ImageLoader(reader=...) a function that picks or stacks the "
            "frames, e.g. one returning pydicom.pixels.pixel_array(path, index=0) "
            "(the first frame) or a few frames as channels."
        )
    pixels = dataset.pixel_array
    if not _is_identity_rescale(dataset):
        pixels = apply_modality_lut(pixels, dataset)
    if str(dataset.get("PhotometricInterpretation", "")).strip() == "MONOCHROME1":
        pixels = _invert(pixels)
    return pixels


def _looks_like_dicom(path):
    # DICOM files often have no suffix; their 128-byte preamble is followed by "DICM".
    with open(path, "rb") as file:
        file.seek(128)
        return file.read(4) == b"DICM"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` with the reader its file type needs.

    ``.npy`` with NumPy; PNG, JPEG, TIFF, BMP, GIF and WebP with Pillow; ``.dcm``,
    ``.dicom`` and files starting with a DICOM preamble with pydicom.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_npy(path)
    if suffix in PILLOW_SUFFIXES:
        return read_pillow(path)
    if suffix in DICOM_SUFFIXES or _looks_like_dicom(path):
        return read_dicom(path)
    raise ValueError(
        f"unknown image file type {suffix or '(no suffix)'!r}: sk_i2m2 reads .npy, "
        f"{', '.join(sorted(PILLOW_SUFFIXES))} and DICOM. Give ImageLoader(reader=...) "
        "a function that reads it into an array."
    )


def _unit_scale(dtype):
    """What ``intensity="unit"`` divides by: an integer type's maximum, else 1."""
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def _to_channels_first(image, n_channels):
    """``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` -> ``(n_channels, H, W)``."""
    if image.ndim == 2:
        image = image[None]
    elif image.ndim == 3 and image.shape[0] != n_channels and image.shape[-1] in (1, 3, 4):
        image = np.moveaxis(image, -1, 0)  # channels last, as Pillow gives them
    if image.ndim != 3:
        raise ValueError(f"expected a 2-D or 3-D image, got shape {image.shape}")
    if image.shape[0] == n_channels:
        return image
    if n_channels == 1 and image.shape[0] in (3, 4):
        # Colour to grey: ITU-R BT.601 luma, as Pillow's convert("L").
        return np.tensordot([0.299, 0.587, 0.114], image[:3], axes=1)[None]
    if n_channels == 3 and image.shape[0] == 4:
        return image[:3]  # drop the alpha channel
    if n_channels == 3 and image.shape[0] == 1:
        return np.repeat(image, 3, axis=0)
    raise ValueError(
        f"the image has {image.shape[0]} channel(s) (shape {image.shape}) where the "
        f"expert's input_shape asks for {n_channels}"
    )


def _scale_intensity(image, intensity, unit_scale):
    if intensity is None or intensity == "dataset":
        # "dataset": native units here; ImageFiles standardises with the statistics
        # it fitted over the training images.
        return image
    if callable(intensity):
        return np.asarray(intensity(image), dtype=np.float64)
    if intensity == "unit":
        return image / unit_scale
    if intensity == "minmax":
        low, high = image.min(), image.max()
        return (image - low) / (high - low) if high > low else np.zeros_like(image)
    # "zscore"
    std = image.std()
    return (image - image.mean()) / std if std > 0 else np.zeros_like(image)


class ImageLoader(BaseEstimator):
    """Read one image file into a float32 array of the expert's ``input_shape``.

    Give it to an image expert, e.g. ``CNNExpert(input_shape=(1, 64, 64),
    loader=ImageLoader(intensity="zscore"))``; ``loader="auto"`` means
    ``ImageLoader()``. Its parameters are nested parameters of the classifier
    (``scan__loader__intensity``), so a grid search can tune them.

    Parameters
    ----------
    reader : "auto" or callable, default="auto"
        ``"auto"`` picks by file type (:func:`read_image`): ``.npy`` (NumPy), PNG,
        JPEG, TIFF, BMP, GIF, WebP (Pillow) and DICOM (pydicom); Pillow and pydicom
        come with ``pip install 'sk-i2m2[imaging]'``. A callable takes a path and
        returns an array of shape ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)``.
    intensity : {"dataset", "zscore", "minmax", "unit"}, callable or None, default="dataset"
        How the values are scaled. ``"dataset"`` standardises each channel with one
        mean and one standard deviation over every pixel of every training image:
        the expert's :class:`~sk_i2m2._image_files.ImageFiles` streams over the
        training files once at ``fit`` (one image in memory at a time) and keeps
        these statistics for ``predict``; :meth:`load` alone then gives the image in
        its native units, as None does (DICOM in modality units, e.g. Hounsfield
        units for CT; integer PNG as its values; ``.npy`` as stored). It is the
        default because it keeps absolute intensity, which carries the meaning of
        many clinical images (the same HU is the same tissue in every scan), while
        still centring the inputs, as a network trains best; it is what
        :class:`~sk_i2m2.experts.ChannelScaler` does for pixel columns, so the CNN
        sees the same values whether the images come from files or from columns.
        The other options scale each image on its own, as it is read: ``"zscore"``
        to mean 0 and standard deviation 1 (when absolute intensity means nothing,
        e.g. photographs taken with varying exposure); ``"minmax"`` to [0, 1];
        ``"unit"`` divides integer images by their type's maximum (8-bit PNG: by
        255) and keeps floating-point ones (DICOM in modality units, ``.npy``) as
        they are; a callable maps the ``(C, H, W)`` float64 array to a new one
        (e.g. a CT window, ``lambda hu: np.clip(hu, -160, 240) / 400``); None keeps
        the values as read.
    resize : bool, default=True
        Resize images whose height and width differ from ``input_shape`` (bilinear,
        antialiased). False makes such an image an error.
    root : str, path or None, default=None
        Directory that relative paths are read from; None means the current
        working directory.
    on_error : {"raise", "missing"}, default="raise"
        A path to a file that does not exist or cannot be read raises an error
        naming the row and the path; ``"missing"`` treats that row as lacking the
        modality instead (its factors leave the product, as for an empty path).
    cache_mb : float, default=256
        Images already read and scaled are kept in memory, up to this many
        megabytes per set of rows (the training rows, the validation rows), so a
        cohort that fits is decoded once rather than once per epoch; beyond it
        the remaining images are read from disk every time. 0 reads every image
        every time. With ``num_workers > 0`` each loading process keeps its own.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from sk_i2m2.imaging import ImageLoader
    >>> path = os.path.join(tempfile.mkdtemp(), "scan.npy")
    >>> np.save(path, np.arange(16.0).reshape(4, 4))
    >>> ImageLoader(intensity="minmax").load(path, (1, 2, 2)).astype(float).round(2).tolist()
    [[[0.0, 0.2], [0.8, 1.0]]]
    """

    _parameter_constraints = {
        "reader": [StrOptions({"auto"}), callable],
        "intensity": [StrOptions({"dataset", "zscore", "minmax", "unit"}), callable,
                      None],
        "resize": ["boolean"],
        "root": [str, os.PathLike, None],
        "on_error": [StrOptions({"raise", "missing"})],
        "cache_mb": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(self, reader="auto", intensity="dataset", resize=True, root=None,
                 on_error="raise", cache_mb=256):
        self.reader = reader
        self.intensity = intensity
        self.resize = resize
        self.root = root
        self.on_error = on_error
        self.cache_mb = cache_mb

    def resolve(self, path):
        """The path a file is read from: relative paths start at ``root``."""
        path = os.fspath(path)
        if self.root is not None and not os.path.isabs(path):
            return os.path.join(os.fspath(self.root), path)
        return path

    def read(self, path):
        """The raw array of ``path`` (after :meth:`resolve`)."""
        reader = read_image if self.reader == "auto" else self.reader
        return np.asarray(reader(self.resolve(path)))

    def load(self, path, input_shape):
        """Read, shape and scale one image.

        With ``intensity="dataset"`` the image comes in its native units: the
        dataset's statistics are applied by the expert's ``ImageFiles``, which
        fitted them.

        Parameters
        ----------
        path : str or path
        input_shape : tuple of int
            ``(channels, height, width)`` the expert takes.

        Returns
        -------
        ndarray of shape ``input_shape``, float32
        """
        channels, height, width = (int(size) for size in input_shape)
        raw = self.read(path)
        if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number)
                                       or raw.dtype == bool):
            raise ValueError(f"the reader returned non-numeric values ({raw.dtype})")
        unit_scale = _unit_scale(raw.dtype)
        image = _to_channels_first(raw.astype(np.float64), channels)
        if image.shape[1:] != (height, width):
            if not self.resize:
                raise ValueError(
                    f"the image is {image.shape[1]}x{image.shape[2]} where input_shape "
                    f"asks for {height}x{width}; set resize=True or fix input_shape"
                )
            image = torch.nn.functional.interpolate(
                torch.from_numpy(image)[None], size=(height, width), mode="bilinear",
                align_corners=False, antialias=True,
            )[0].numpy()
        image = _scale_intensity(image, self.intensity, unit_scale)
        if image.shape != (channels, height, width):
            raise ValueError(
                f"intensity={self.intensity!r} changed the image's shape to {image.shape}"
            )
        if not np.isfinite(image).all():
            raise ValueError("the image holds NaN or infinite values")
        return image.astype(np.float32)

