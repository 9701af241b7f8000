"""ImageLoader and the readers: a file's path to an array of the expert's shape.

The public names are those of :mod:`sk_i2m2.imaging`, where the package's module
docstring describes them.
"""

import os
import warnings
from numbers import Real
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from ._read_log import FileSeen
from ._volumes import (
    DICOM_SUFFIXES,
    MAX_NIFTI_CHANNELS,
    _import_pydicom,
    _invert,
    _is_identity_rescale,
    _is_monochrome1,
    _looks_like_dicom,
    _missing_extra,
    enhanced_volume,
    is_nifti,
    read_dicom_dataset,
    read_dicom_series_geometry,
    read_nifti_geometry,
)

__all__ = ["ChannelConversionWarning", "ImageLoader", "UnsupportedImageType", "read_dicom",
           "read_dicom_series", "read_image", "read_nifti", "read_npy", "read_pillow",
           "read_volume"]

PILLOW_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp"}


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


def _read_dicom(path):
    """:func:`read_dicom`, with its spacing in mm and its RAS+ affine.

    The spacing is None where the file has none; the affine is None for a
    single-frame image, which is a picture rather than a volume.
    """
    pydicom, apply_modality_lut = _import_pydicom()
    dataset = read_dicom_dataset(path)
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        # The frames' geometry is read before pixel_array, which would decode every
        # frame of what may be a long cine loop only for the file to be refused.
        volume = enhanced_volume(dataset, path)
        if volume is None:
            raise ValueError(
                f"the DICOM file has {frames} frames; read_dicom reads single-frame "
                "images and enhanced multi-frame volumes (frames with their own "
                "PlanePositionSequence). Give ImageLoader(reader=...) a function that "
                "picks or stacks the frames, e.g. one returning "
                "pydicom.pixels.pixel_array(path, index=0) (the first frame) or a few "
                "frames as channels."
            )
        return volume
    pixels = dataset.pixel_array
    if not _is_identity_rescale(dataset):
        pixels = apply_modality_lut(pixels, dataset)
    if _is_monochrome1(dataset):
        pixels = _invert(pixels)
    spacing = dataset.get("PixelSpacing")
    spacing = None if spacing is None else tuple(float(value) for value in spacing)
    return pixels, spacing, None


def read_dicom(path: str | os.PathLike) -> np.ndarray:
    """A DICOM image's pixels in modality units, higher values brighter.

    The modality transform is applied with :func:`pydicom.pixels.apply_modality_lut`:
    ``RescaleSlope``/``RescaleIntercept`` (e.g. Hounsfield units for CT; the result
    is float64) or a Modality LUT Sequence (the LUT's uint8 or uint16 values). An
    identity rescale (slope 1, intercept 0) keeps the stored integer type, as a file
    without one does. ``MONOCHROME1`` images, where low values display white, are
    then inverted to ``max + min - pixels`` over the image, so that, as in
    ``MONOCHROME2``, higher values are brighter; the range is kept, the modality
    units of each value are not. Colour images (e.g. RGB) come as ``(H, W, 3)``.

    An enhanced multi-frame file whose frames are the slices of one volume
    (Enhanced CT or MR: each frame of the ``PerFrameFunctionalGroupsSequence`` has
    its own ``PlanePositionSequence``, and an orientation, its own or shared) reads
    as a volume in the closest canonical RAS+ voxel order, ``(X, Y, Z)``, as
    :func:`read_dicom_series` reads a folder of slices and :func:`read_nifti` a
    NIfTI file: the frames placed by their position along the slice normal (row
    direction x column direction), never by frame number; the rescale of each
    frame's Pixel Value Transformation (its own or shared; else the file's
    ``RescaleSlope``/``RescaleIntercept``) applied; and, for ``MONOCHROME1``, one
    inversion over the whole volume. Its frames must make
    a regular grid, as for :func:`read_dicom_series`: one orientation and pixel
    spacing, evenly spaced positions (a ValueError names the file and the frames
    that break it; frames at one position are time points or echoes, not slices).

    Other multi-frame files (``NumberOfFrames`` > 1: cine loops, echoes, frames
    without positions) are refused with a ValueError: whether their frames are time
    points, slices or channels is the study's to say. Give
    ``ImageLoader(reader=...)`` a function that picks or stacks the frames.
    """
    return _read_dicom(path)[0]


def read_dicom_series(folder: str | os.PathLike) -> np.ndarray:
    """A folder of single-frame DICOM slices as one volume, in closest canonical RAS+ order.

    The slices are ordered by their ``ImagePositionPatient`` projected on the slice
    normal, the cross product of the two direction cosines of
    ``ImageOrientationPatient`` (row x column), never by file name or
    ``InstanceNumber``. The stacked slices are placed in the patient's space by
    their geometry (the first slice's position, the direction cosines,
    ``PixelSpacing`` and the step between slices; DICOM's LPS coordinates turned
    to RAS), and the axes are permuted and flipped to the closest canonical RAS+
    order, as :func:`read_nifti` does for a NIfTI file: the array is ``(X, Y, Z)``,
    its axes running, as nearly as the scan allows, towards the patient's Right,
    Anterior and Superior. A series and the NIfTI file converted from it give the
    same array. An oblique series stays oblique: its voxels are reordered, never
    resampled.

    Each slice's modality transform is applied as :func:`read_dicom` does (slopes
    and intercepts may differ from slice to slice); a ``MONOCHROME1`` series is
    inverted once over the whole volume, so that every slice gets the same mapping.
    Colour slices give ``(X, Y, Z, 3)``.

    Only the folder's own files are read, not its subfolders. Files that are not
    DICOM (neither a ``.dcm``/``.dicom`` suffix nor a DICOM preamble: a README, a
    ``.txt``) and DICOM files without pixel data (a ``DICOMDIR``, a structured
    report) are skipped.

    The slices must make one regular volume; otherwise a ValueError names the folder
    and what differs: several series (``SeriesInstanceUID``, with the number of
    files of each), slices of different orientation, pixel spacing, size (``Rows``
    x ``Columns``) or photometric interpretation, two slices at one position,
    uneven gaps between consecutive positions (a slice missing: gaps differing by
    more than 1% or 0.01 mm), slices shifted within their plane (a tilted gantry),
    a slice without a position or orientation, a multi-frame file, or no DICOM
    image at all.

    Parameters
    ----------
    folder : str or path
        The folder of one series' slice files.

    Returns
    -------
    ndarray of shape (X, Y, Z)
        In modality units (e.g. Hounsfield units for CT).

    Notes
    -----
    Earlier versions gave the slices as they are stacked, ``(slice, row,
    column)``; the array now comes in the RAS+ order of NIfTI volumes. For an axial
    series in the usual orientation (rows running to the patient's back, columns to
    their left), the new array is the old one transposed and flipped,
    ``old.transpose(2, 1, 0)[::-1, ::-1, :]``.
    """
    return read_dicom_series_geometry(folder)[0]


def read_nifti(path: str | os.PathLike, volume: int | None = None) -> np.ndarray:
    """A NIfTI volume (``.nii`` or ``.nii.gz``) in the closest canonical RAS+ voxel order.

    The voxel axes are permuted and flipped as :func:`nibabel.as_closest_canonical`
    does: a 3-D file gives ``(X, Y, Z)``, the axes running, as nearly as the scan
    allows, towards the patient's Right, Anterior and Superior, whatever order the
    file stores them in, so that scans stored in different orders come out alike.
    An oblique scan stays oblique: its voxels are reordered, not resampled.
    The values are scaled as the header's ``scl_slope`` and ``scl_inter`` say
    (float then; the stored type otherwise). A 2-D file reads as a volume one voxel
    thick; RGB files give their colours as a last axis of 3 (or 4).

    A 4-D file's fourth axis holds channels or volumes. It reads as channels,
    ``(X, Y, Z, C)``, when it has at most 4 entries and the header neither gives it
    a unit (``xyzt_units``: seconds, hertz, ppm...) nor declares the data a time
    series (``intent_code``); otherwise (fMRI, diffusion, perfusion series) it is
    refused with a ValueError: which volume an expert should see is the study's
    choice, made with ``volume``, e.g. ``ImageLoader(reader=functools.partial(
    read_nifti, volume=0))``. A fourth axis of length 1 is dropped; files of 5 axes
    or more are refused.

    Parameters
    ----------
    path : str or path
    volume : int or None, default=None
        The volume to read along a 4-D file's fourth axis (negative counts from the
        end), whatever the header says that axis is. None reads the file as above.

    Returns
    -------
    ndarray of shape (X, Y, Z) or (X, Y, Z, C)

    Notes
    -----
    Needs nibabel: ``pip install 'sk-i2m2[imaging]'``.
    """
    return read_nifti_geometry(path, volume)[0]


class UnsupportedImageType(ValueError):
    """A file of a type no built-in reader reads (the file itself may be fine)."""


def _read(path):
    """``(array, spacing)`` of ``path``, read by file type (:func:`read_volume`)."""
    return read_volume_geometry(path)[:2]


def read_volume_geometry(path):
    """``(array, spacing, affine)`` of ``path``, read by file type (:func:`read_volume`).

    ``affine`` maps the array's voxel indices to RAS+ world coordinates in mm for
    NIfTI files, DICOM series folders and enhanced multi-frame DICOM files, whose
    arrays come in the closest canonical RAS+ order; it is None for files without
    that geometry (``.npy``, photos, single-frame DICOM images).
    """
    if os.path.isdir(path):
        return read_dicom_series_geometry(path)
    if is_nifti(path):
        return read_nifti_geometry(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return read_npy(path), None, None
    if suffix in PILLOW_SUFFIXES:
        return read_pillow(path), None, None
    if suffix in DICOM_SUFFIXES or _looks_like_dicom(path):
        return _read_dicom(path)
    raise UnsupportedImageType(
        f"unknown image file type {suffix or '(no suffix)'!r}: sk_i2m2 reads .npy, "
        f"{', '.join(sorted(PILLOW_SUFFIXES))}, NIfTI (.nii, .nii.gz), DICOM and "
        "folders of DICOM slices. Give ImageLoader(reader=...) a function that reads "
        "it into an array."
    )


def file_format(path):
    """The format :func:`read_volume` reads ``path`` as, in words (for the data report)."""
    if os.path.isdir(path):
        return "DICOM series"
    if is_nifti(path):
        return "NIfTI"
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        return "NumPy"
    if suffix in PILLOW_SUFFIXES:
        return {".jpg": "JPEG", ".tif": "TIFF"}.get(suffix, suffix[1:].upper())
    if suffix in DICOM_SUFFIXES or _looks_like_dicom(path):
        return "DICOM"
    return suffix[1:] or "(no suffix)"


def dicom_modality(path):
    """The ``Modality`` (``"CT"``, ``"MR"``, ...) of a DICOM file or series folder, or None.

    Reads the header of one file alone (no pixels); None where the file does not
    say, or is not DICOM.
    """
    try:
        pydicom, _ = _import_pydicom()
        if os.path.isdir(path):
            names = sorted(name for name in os.listdir(path)
                           if os.path.isfile(os.path.join(path, name)))
            files = [os.path.join(path, name) for name in names
                     if Path(name).suffix.lower() in DICOM_SUFFIXES
                     or _looks_like_dicom(os.path.join(path, name))]
            if not files:
                return None
            path = files[0]
        value = pydicom.dcmread(path, stop_before_pixels=True,
                                specific_tags=["Modality"]).get("Modality")
    except Exception:  # a description, never a reason to fail: the read itself decides
        return None
    if value is None:
        return None
    return str(value).strip() or None


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read ``path`` with the reader its file type needs.

    ``.npy`` with NumPy; PNG, JPEG, TIFF, BMP, GIF and WebP with Pillow; ``.nii``
    and ``.nii.gz`` with nibabel (:func:`read_nifti`); ``.dcm``, ``.dicom`` and
    files starting with a DICOM preamble with pydicom (:func:`read_dicom`, which
    also reads enhanced multi-frame volumes); a folder as one series of DICOM
    slices (:func:`read_dicom_series`).
    """
    return _read(path)[0]


def read_volume(path: str | os.PathLike) -> tuple[np.ndarray, tuple[float, ...] | None]:
    """Read ``path`` as :func:`read_image` does, with its voxel spacing in millimetres.

    :class:`ImageLoader` reads with it, for its ``spacing`` to know each volume's.

    Parameters
    ----------
    path : str or path
        A file, or a folder of DICOM slices.

    Returns
    -------
    array : ndarray
        What :func:`read_image` gives.
    spacing : tuple of float or None
        The distance between neighbouring voxels along each spatial axis of
        ``array``, in mm, in the array's axis order; None where the file does not
        say. A volume (NIfTI, DICOM series, enhanced multi-frame DICOM): the voxel
        sizes of its canonical (RAS+) affine, three values in ``(X, Y, Z)`` order.
        For NIfTI the header's spatial unit is converted (an unknown unit read as
        mm, as NIfTI tools do). For DICOM the slice step is measured between the
        slices' positions (not ``SliceThickness``, which may differ from it where
        slices overlap or leave gaps) and the in-plane sizes come from
        ``PixelSpacing``; a single-slice series takes ``SliceThickness`` for its
        step; without ``PixelSpacing`` (or, for one slice, ``SliceThickness``) the
        spacing is None. A single DICOM image: its two ``PixelSpacing`` values.
        ``.npy`` and photos: None, as their files hold no geometry.

    Notes
    -----
    NIfTI files, DICOM series folders and enhanced multi-frame DICOM files all come
    in the closest canonical RAS+ voxel order, ``(X, Y, Z)``: an axial DICOM series
    and the NIfTI file converted from it give the same array and the same spacing,
    so one column of paths may mix the two formats. (Earlier versions gave DICOM
    volumes as ``(slice, row, column)``, in another order than NIfTI.)
    """
    return _read(path)


def _unit_scale(dtype):
    """What ``intensity="unit"`` divides by: an integer type's maximum, else 1."""
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


class ChannelConversionWarning(UserWarning):
    """Images with another number of channels than ``input_shape`` asks for were
    converted to it (grey to colour, colour to grey, alpha dropped)."""


def _converted(stored, expected, what):
    warnings.warn(ChannelConversionWarning(
        f"images of {stored} channel(s) where input_shape asks for {expected}: {what}"),
        stacklevel=3)


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
        _converted(image.shape[0], 1, "each was converted to grey (ITU-R BT.601 luma); "
                   "if colour matters, give input_shape 3 channels")
        return np.tensordot([0.299, 0.587, 0.114], image[:3], axes=1)[None]
    if n_channels == 3 and image.shape[0] == 4:
        _converted(4, 3, "the alpha channel of each was dropped")
        return image[:3]
    if n_channels == 3 and image.shape[0] == 1:
        _converted(1, 3, "each grey image was repeated into 3 channels; if the images "
                   "are grey, give input_shape 1 channel (the network is then smaller)")
        return np.repeat(image, 3, axis=0)
    hint = ("; a volume needs an input_shape of 4 axes, (channels, depth, height, width)"
            if image.shape[0] > 4 else "")
    raise ValueError(
        f"the image has {image.shape[0]} channel(s) (shape {image.shape}) where the "
        f"expert's input_shape asks for {n_channels}{hint}"
    )


def _volume_channels_first(volume, n_channels):
    """``(D, H, W)``, ``(D, H, W, C)`` or ``(C, D, H, W)`` -> ``(n_channels, D, H, W)``.

    Channels last come first when both ends could be channels: the readers that give
    volumes with channels (a 4-D NIfTI, a colour DICOM series) give them last.
    """
    if volume.ndim == 3:
        volume = volume[None]
    elif volume.ndim == 4 and (volume.shape[-1] == n_channels or (
            volume.shape[0] != n_channels and volume.shape[-1] <= MAX_NIFTI_CHANNELS)):
        volume = np.moveaxis(volume, -1, 0)
    if volume.ndim != 4:
        raise ValueError(
            f"expected a volume of 3 axes, or 4 with channels first or last, got shape "
            f"{volume.shape}, where input_shape has 4 axes, (channels, depth, height, "
            "width)"
        )
    if volume.shape[0] != n_channels:
        raise ValueError(
            f"the volume has {volume.shape[0]} channel(s) (shape {volume.shape}, channels "
            f"first) where the expert's input_shape asks for {n_channels}"
        )
    return volume


def _resample(volume, size=None, scale=None):
    """``(C, D, H, W)`` resampled to ``size``, or by ``scale``, along D, H and W.

    Trilinear, as :func:`torch.nn.functional.interpolate` with ``mode="trilinear"``
    and ``align_corners=False``, and antialiased when shrinking, as 2-D images are:
    linear interpolation is separable, so it runs as two antialiased bilinear passes,
    across each slice and then through the slices. Enlarging, this is trilinear
    interpolation exactly; shrinking, the linear kernel widens with the scale, so
    every voxel counts rather than one in every few (which would alias thin
    structures into noise). With ``scale``, voxel centres are placed at exactly
    ``1 / scale`` of the input's spacing from the grid's corner, and the size is
    the whole number of such voxels that fits.
    """
    functional = torch.nn.functional
    options = {"mode": "bilinear", "align_corners": False, "antialias": True}
    if scale is not None:
        options["recompute_scale_factor"] = False
    tensor = torch.from_numpy(np.ascontiguousarray(volume))
    channels, depth, height, width = tensor.shape
    if (size is not None and tuple(size[1:]) != (height, width)) or (
            scale is not None and tuple(scale[1:]) != (1, 1)):
        plane = ({"size": tuple(size[1:])} if size is not None
                 else {"scale_factor": tuple(scale[1:])})
        tensor = functional.interpolate(tensor.reshape(channels * depth, 1, height, width),
                                        **plane, **options)
        height, width = tensor.shape[-2:]
        tensor = tensor.reshape(channels, depth, height, width)
    if (size is not None and size[0] != depth) or (scale is not None and scale[0] != 1):
        # (depth, height * width) images whose second axis keeps its size: an exact
        # copy along it, so the pass resamples through the slices alone.
        through = ({"size": (size[0], height * width)} if size is not None
                   else {"scale_factor": (scale[0], 1.0)})
        tensor = functional.interpolate(tensor.reshape(channels, 1, depth, height * width),
                                        **through, **options)
        tensor = tensor.reshape(channels, -1, height, width)
    return tensor.numpy()


def _crop_or_pad(volume, size):
    """``(C, D, H, W)`` centre-cropped or padded to ``(C, *size)``, padding with its minimum.

    The minimum of each channel, e.g. air in CT, stands for the empty space around
    the scanned field of view.
    """
    low = volume.reshape(len(volume), -1).min(axis=1)
    result = np.empty((len(volume), *size), dtype=volume.dtype)
    result[...] = low.reshape(-1, 1, 1, 1)
    source, target = centre_slices(volume.shape[1:], size)
    result[target] = volume[source]
    return result


def centre_slices(have, want):
    """``(source, target)`` index tuples of a centre crop or pad from ``have`` to ``want``.

    ``(C, *want)[target] = (C, *have)[source]`` keeps the centre of each spatial axis;
    :func:`~sk_i2m2.imaging.save_like` swaps them to undo it.
    """
    source, target = [slice(None)], [slice(None)]
    for size, wanted in zip(have, want, strict=True):
        start = abs(size - wanted) // 2
        kept = min(size, wanted)
        source.append(slice(start, start + kept) if size > wanted else slice(0, kept))
        target.append(slice(0, kept) if size > wanted else slice(start, start + kept))
    return tuple(source), tuple(target)


def spacing_scale(spacing, target):
    """The factor by which a volume of ``spacing`` is resampled to ``target`` spacing.

    Axes already at the target spacing are left alone (1); the others scale by a
    hair above the ratio, so that a size such as 10 * (1.2 / 0.4), which is
    29.999999999999996 in floating point, keeps its last voxel.
    """
    scale = np.asarray(spacing, dtype=np.float64) / np.asarray(target, dtype=np.float64)
    return np.where(np.isclose(scale, 1, rtol=1e-6, atol=0), 1.0, scale * (1 + 1e-9))


def _apply_window(image, centre, width):
    """Values clipped to ``centre -+ width / 2`` and mapped linearly to [0, 1]."""
    return np.clip((image - (centre - width / 2)) / width, 0.0, 1.0)


def _split_read(result):
    """A reader's result as ``(array, spacing)``: readers may return either."""
    if (isinstance(result, tuple) and len(result) == 2
            and (result[1] is None or np.ndim(result[1]) == 1)
            and np.ndim(result[0]) >= 2):
        array, spacing = result
        spacing = None if spacing is None else tuple(float(value) for value in spacing)
        return np.asarray(array), spacing
    return np.asarray(result), None


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

    An ``input_shape`` of 3 axes, ``(channels, height, width)``, reads 2-D images;
    one of 4 axes, ``(channels, depth, height, width)``, reads volumes (NIfTI, DICOM
    series and enhanced multi-frame files, 3-D ``.npy``): ``(D, H, W)`` as one
    channel, ``(D, H, W, C)`` (a 4-D NIfTI's channels) or ``(C, D, H, W)`` as
    ``C`` channels; an array whose first and last axes both have ``C`` entries
    is read as channels last, as NIfTI and DICOM give them.

    Parameters
    ----------
    reader : "auto" or callable, default="auto"
        ``"auto"`` picks by file type (:func:`read_volume`): ``.npy`` (NumPy), PNG,
        JPEG, TIFF, BMP, GIF, WebP (Pillow), NIfTI (nibabel), DICOM files and
        folders of DICOM slices (pydicom); Pillow, nibabel and pydicom come with
        ``pip install 'sk-i2m2[imaging]'``. A callable takes a path and returns an
        array of shape ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` (volumes: ``(D, H,
        W)``, ``(C, D, H, W)`` or ``(D, H, W, C)``), or a pair ``(array, spacing)``
        as :func:`read_volume` does, for ``spacing`` to apply to what it reads.
    intensity : {"dataset", "zscore", "minmax", "unit"}, callable or None, default="dataset"
        How the values are scaled. ``"dataset"`` standardises each channel with one
        mean and one standard deviation over every pixel of every training image:
        the expert's :class:`~sk_i2m2.imaging._files.ImageFiles` streams over the
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
        antialiased), and volumes whose depth, height and width differ from it
        (trilinear, antialiased when shrinking). False makes such an image an error.
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
    spacing : tuple of 3 float or None, default=None
        Volumes only (an ``input_shape`` of 4 axes): the voxel spacing in mm, in the
        array's axis order, ``(X, Y, Z)`` (RAS+) for NIfTI and DICOM alike,
        that each volume is resampled to (trilinear, antialiased when shrinking)
        before it is centre-cropped or padded to ``input_shape``'s depth, height and
        width. The padding takes the volume's minimum, channel by channel (air in
        CT): it stands for the empty space around the scanned field of view. Every
        voxel then spans the same distance in every scan, whatever the scanner, and
        the network sees a field of view of ``input_shape`` times ``spacing``
        around each scan's centre. A volume whose spacing is unknown (``.npy``, a
        reader returning an array alone; see :func:`read_volume`) is resized to
        ``input_shape`` instead, as with None (``resize=False`` makes it an error).
        None resizes every volume to ``input_shape``: the whole field of view is
        kept, but a voxel's physical size then differs between scans of different
        field of view or resolution. Where the spacing is known, a target spacing
        keeps the physical scale consistent across scanners and is the better
        choice; it is not the default because its value, and an ``input_shape``
        that covers the anatomy at it, are the study's to choose.
    window : tuple of (float, float) or None, default=None
        ``(centre, width)`` of an intensity window in the reader's units, e.g.
        ``(40, 400)`` for soft tissue in CT Hounsfield units, ``(40, 80)`` for the
        brain, ``(-600, 1500)`` for the lungs. Values are clipped to ``centre -
        width / 2`` and ``centre + width / 2`` and mapped linearly to [0, 1] as
        soon as the image is read, before it is shaped and before ``intensity``
        (``"unit"`` then keeps them as they are). Images and volumes alike. None
        keeps the values as read.

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
        "spacing": ["array-like", None],
        "window": ["array-like", None],
    }

    def __init__(self, reader="auto", intensity="dataset", resize=True, root=None,
                 on_error="raise", cache_mb=256, spacing=None, window=None):
        self.reader = reader
        self.intensity = intensity
        self.resize = resize
        self.root = root
        self.on_error = on_error
        self.cache_mb = cache_mb
        self.spacing = spacing
        self.window = window

    def resolve(self, path):
        """The path a file is read from: relative paths start at ``root``."""
        path = os.fspath(path)
        if self.root is not None and not os.path.isabs(path):
            return os.path.join(os.fspath(self.root), path)
        return path

    def _read(self, path):
        """``(array, spacing)`` of ``path`` (after :meth:`resolve`)."""
        reader = read_volume if self.reader == "auto" else self.reader
        return _split_read(reader(self.resolve(path)))

    def read(self, path):
        """The raw array of ``path`` (after :meth:`resolve`)."""
        return self._read(path)[0]

    def _check_input_shape(self, input_shape):
        """``input_shape`` as ints, checked with ``spacing`` and ``window``.

        :class:`~sk_i2m2.imaging._files.ImageFiles` calls it at ``fit``, so that a
        setting that fits no image fails there rather than at every file.
        """
        shape = tuple(int(size) for size in input_shape)
        if len(shape) not in (3, 4) or min(shape) < 1:
            raise ValueError(
                f"input_shape must be (channels, height, width) for images or (channels, "
                f"depth, height, width) for volumes, sizes of at least 1; got {shape}"
            )
        if self.spacing is not None:
            spacing = np.asarray(self.spacing, dtype=np.float64)
            if spacing.shape != (3,) or not (np.isfinite(spacing).all() and
                                             (spacing > 0).all()):
                raise ValueError(f"spacing must be 3 positive sizes in mm (one per axis "
                                 f"of a volume), got {self.spacing!r}")
            if len(shape) == 3:
                raise ValueError(
                    f"spacing={self.spacing!r} applies to volumes, but input_shape "
                    f"{shape} has 3 axes (a 2-D image); give a volume's input_shape, "
                    "(channels, depth, height, width), or spacing=None"
                )
        if self.window is not None:
            window = np.asarray(self.window, dtype=np.float64)
            if window.shape != (2,) or not np.isfinite(window).all() or window[1] <= 0:
                raise ValueError(f"window must be (centre, width) with a positive width, "
                                 f"got {self.window!r}")
        return shape

    def load(self, path, input_shape):
        """Read, shape and scale one image or volume.

        With ``intensity="dataset"`` the image comes in its native units: the
        dataset's statistics are applied by the expert's ``ImageFiles``, which
        fitted them.

        Parameters
        ----------
        path : str or path
        input_shape : tuple of int
            ``(channels, height, width)`` the expert takes, or ``(channels, depth,
            height, width)`` for a volume.

        Returns
        -------
        ndarray of shape ``input_shape``, float32
        """
        return self._load(path, input_shape)[0]

    def _load(self, path, input_shape, describe=False):
        """``(image, FileSeen or None)``: :meth:`load`, and with ``describe`` what was read."""
        shape = self._check_input_shape(input_shape)
        raw, spacing = self._read(path)
        if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number)
                                       or raw.dtype == bool):
            raise ValueError(f"the reader returned non-numeric values ({raw.dtype})")
        seen = self._describe(path, raw, spacing, len(shape)) if describe else None
        image = raw.astype(np.float64)
        unit_scale = _unit_scale(raw.dtype)
        if self.window is not None:
            image = _apply_window(image, *(float(value) for value in self.window))
            unit_scale = 1.0  # already in [0, 1]
        if len(shape) == 3:
            image = self._shape_image(image, shape)
        else:
            image = self._shape_volume(image, shape, spacing)
        image = _scale_intensity(image, self.intensity, unit_scale)
        if image.shape != shape:
            raise ValueError(
                f"intensity={self.intensity!r} changed the image's shape to {image.shape}"
            )
        if not np.isfinite(image).all():
            raise ValueError("the image holds NaN or infinite values")
        return image.astype(np.float32), seen

    def _describe(self, path, raw, spacing, n_axes):
        """A :class:`~sk_i2m2.imaging._read_log.FileSeen` of a file as read."""
        path = self.resolve(path)
        spatial = raw.shape[:n_axes - 1]
        if raw.ndim >= n_axes and raw.shape[0] <= MAX_NIFTI_CHANNELS < raw.shape[-1]:
            spatial = raw.shape[1:n_axes]  # channels first
        values = raw.reshape(-1)
        # About 100 000 values are plenty for percentiles, and cheap on a large CT.
        values = values[::max(1, values.size // 100_000)].astype(np.float64)
        low, high = np.percentile(values, [1, 99]) if values.size else (np.nan, np.nan)
        fmt = file_format(path)
        kind = dicom_modality(path) if fmt.startswith("DICOM") else None
        return FileSeen(fmt, kind, tuple(int(size) for size in spatial), spacing,
                        float(low), float(high))

    def _shape_image(self, image, shape):
        """A 2-D image brought to ``shape``, ``(channels, height, width)``."""
        channels, height, width = shape
        image = _to_channels_first(image, channels)
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
        return image

    def _shape_volume(self, volume, shape, spacing):
        """A volume brought to ``shape``, ``(channels, depth, height, width)``."""
        channels, *size = shape
        volume = _volume_channels_first(volume, channels)
        if self.spacing is not None and spacing is not None:
            if len(spacing) != 3:
                raise ValueError(
                    f"the reader gave a spacing of {len(spacing)} values, {spacing}, for "
                    f"a volume of shape {volume.shape[1:]}; it needs one per axis"
                )
            scale = spacing_scale(spacing, self.spacing)
            kept = np.floor(np.asarray(volume.shape[1:]) * scale)
            if (kept < 1).any():
                raise ValueError(
                    f"the volume, {volume.shape[1:]} voxels of {spacing} mm, is less than "
                    f"one voxel of spacing={self.spacing} mm along an axis"
                )
            if (scale != 1).any():
                volume = _resample(volume, scale=tuple(float(value) for value in scale))
            return _crop_or_pad(volume, size) if volume.shape[1:] != tuple(size) else volume
        if volume.shape[1:] != tuple(size):
            if not self.resize:
                unknown = (" (its voxel spacing is unknown, so spacing= cannot apply)"
                           if self.spacing is not None else "")
                raise ValueError(
                    f"the volume is {'x'.join(map(str, volume.shape[1:]))} where "
                    f"input_shape asks for {'x'.join(map(str, size))}{unknown}; set "
                    "resize=True or fix input_shape"
                )
            volume = _resample(volume, size=size)
        return volume
